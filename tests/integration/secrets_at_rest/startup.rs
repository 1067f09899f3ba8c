//! Start-up refuses a main secret that does not go with the database: another key than the
//! one its secrets were encrypted with, or none while they are encrypted. In process for
//! every role, and through the real binary for every command.

use super::{MAIN_SECRET, build};
use crate::helpers::{StoreKind, TOKEN, TestDatabase, per_store};
use crate::process::{Process, free_port};
use hookline::Role;

per_store!(
    a_wrong_main_secret_stops_every_role_from_starting,
    an_encrypted_database_without_a_main_secret_does_not_start,
);

const ROLES: [Role; 3] = [Role::Serve, Role::Api, Role::Worker];

/// A database whose secrets are encrypted with [`MAIN_SECRET`]: one start with it is enough.
async fn encrypted_database(kind: StoreKind) -> TestDatabase {
    let db = TestDatabase::create(kind).await;
    build(&db, Some(MAIN_SECRET), Role::Api)
        .await
        .expect("the first start with a main secret");
    db
}

/// The error of a start that must fail, with its whole chain.
async fn refused(db: &TestDatabase, main_secret: Option<&str>, role: Role) -> String {
    match build(db, main_secret, role).await {
        Ok(_) => panic!("{role:?} started with main secret {main_secret:?}"),
        Err(e) => format!("{e:#}"),
    }
}

async fn a_wrong_main_secret_stops_every_role_from_starting(kind: StoreKind) {
    let db = encrypted_database(kind).await;
    for role in ROLES {
        let error = refused(&db, Some("not-the-main-secret-it-was"), role).await;
        assert!(
            error.contains(
                "HOOKLINE_MAIN_SECRET does not match the key this database's endpoint \
                 secrets were encrypted with"
            ),
            "{role:?}: {error}"
        );
    }
    build(&db, Some(MAIN_SECRET), Role::Serve)
        .await
        .expect("the right key still starts: the refused starts changed nothing");
}

async fn an_encrypted_database_without_a_main_secret_does_not_start(kind: StoreKind) {
    let db = encrypted_database(kind).await;
    for role in ROLES {
        let error = refused(&db, None, role).await;
        assert!(
            error.contains("endpoint secrets are encrypted")
                && error.contains("HOOKLINE_MAIN_SECRET is not set"),
            "{role:?}: {error}"
        );
    }
}

#[tokio::test]
async fn the_binary_exits_with_a_clear_message_when_the_main_secret_does_not_match() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let env = |main_secret: Option<&str>| {
        let mut env: Vec<(String, String)> = [
            (
                "HOOKLINE_DATABASE_URL",
                format!("sqlite://{}", dir.path().join("hookline.db").display()),
            ),
            ("HOOKLINE_LISTEN", format!("127.0.0.1:{}", free_port())),
            ("HOOKLINE_API_TOKEN", TOKEN.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(secret) = main_secret {
            env.push(("HOOKLINE_MAIN_SECRET".into(), secret.into()));
        }
        env
    };
    let first = Process::start("migrate", dir.path(), &env(Some(MAIN_SECRET)))
        .wait_exit()
        .await;
    assert!(first.status.success(), "migrate: {}", first.stderr);

    for command in ["serve", "api", "worker", "migrate"] {
        let wrong = Process::start(
            command,
            dir.path(),
            &env(Some("not-the-main-secret-it-was")),
        )
        .wait_exit()
        .await;
        assert!(
            !wrong.status.success(),
            "{command} started with the wrong key"
        );
        assert!(
            wrong
                .stderr
                .contains("HOOKLINE_MAIN_SECRET does not match the key this database's"),
            "{command}'s stderr: {}",
            wrong.stderr
        );
        let missing = Process::start(command, dir.path(), &env(None))
            .wait_exit()
            .await;
        assert!(!missing.status.success(), "{command} started without a key");
        assert!(
            missing.stderr.contains("HOOKLINE_MAIN_SECRET is not set"),
            "{command}'s stderr: {}",
            missing.stderr
        );
    }
}
