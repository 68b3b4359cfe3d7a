//! The HTTP surface: routing, content negotiation, discovery, CRUD, watch, tables and exec.

mod app;
mod discovery;
mod exec;
mod negotiate;
mod openapi;
mod pages;
mod protobuf;
mod rbac;
mod rest;
mod scale;
mod table;
mod token;
mod watch;

pub use app::{ApiServer, Security, ServerOptions, StartError};
