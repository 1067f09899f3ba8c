# Build: the release binary, statically linked against its bundled SQLite and rustls.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY build.rs ./
COPY migrations migrations
COPY benches benches
RUN cargo build --release --locked --bin hookline

# Run: a small image, an unprivileged user, the database on a volume.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data hookline \
 && mkdir -p /data && chown hookline /data
COPY --from=build /src/target/release/hookline /usr/local/bin/hookline
USER hookline
WORKDIR /data
VOLUME ["/data"]
ENV HOOKLINE_DATABASE_URL=sqlite:///data/hookline.db \
    HOOKLINE_LISTEN=0.0.0.0:8071
EXPOSE 8071
ENTRYPOINT ["hookline"]
CMD ["serve"]
