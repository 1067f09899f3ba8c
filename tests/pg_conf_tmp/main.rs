#![allow(missing_docs, dead_code)]
mod pg_support;
mod store_conformance;
