//! OpenTelemetry semantic-convention fields and the X-Ray blocks they fill: the one table
//! (`TABLE`, in this file) and the code that turns a span's collected values into `http`, `sql`, `aws`
//! and `namespace`.
//!
//! | span fields | X-Ray |
//! | --- | --- |
//! | `http.request.method`, `url.full`, `user_agent.original`, `client.address` | `http.request`, namespace `remote` |
//! | `http.response.status_code`, `http.response.body.size` | `http.response` (and the error/throttle/fault flags its status implies) |
//! | `db.system.name`, `db.query.text`, `db.namespace`, `db.user`, `server.address` | `sql` (`database_type`, `sanitized_query`, `url` = `server.address/db.namespace`, `user`), namespace `remote` |
//! | `rpc.system` = `aws-api`, `rpc.method`, `cloud.region` | namespace `aws`, `aws.operation`, `aws.region` |
//! | `rpc.system` (other), `rpc.service`, `rpc.method` | namespace `remote`; `rpc.service` and `rpc.method` also as metadata |
//!
//! The older names (`http.method`, `http.url`, `http.status_code`, `http.user_agent`,
//! `db.system`, `db.statement`, `db.name`, `net.peer.name`) are read too. A value that fills no
//! block (`server.address` on a span with neither `http.*` nor `db.*` fields) is kept as
//! metadata under its own name, so nothing is dropped.
//!
//! `db.query.text` becomes `sql.sanitized_query`: the conventions ask instrumentations to
//! record it parameterized; X-Ray cannot check that, so never put user values in it.

use xray_core::model::{Aws, HttpRequest, HttpResponse, Sql};

use crate::context::TraceContext;

/// What a semantic-convention field fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    HttpMethod,
    Url,
    UserAgent,
    ClientAddress,
    HttpStatus,
    ResponseSize,
    ServerAddress,
    DbSystem,
    DbQuery,
    DbNamespace,
    DbUser,
    RpcSystem,
    RpcService,
    RpcMethod,
    CloudRegion,
}

/// How many slots there are (the size of [`Collected`]).
const SLOTS: usize = Slot::CloudRegion as usize + 1;

/// The mapping: field name → slot. Current names first, then the older ones.
pub(crate) const TABLE: &[(&str, Slot)] = &[
    ("http.request.method", Slot::HttpMethod),
    ("url.full", Slot::Url),
    ("user_agent.original", Slot::UserAgent),
    ("client.address", Slot::ClientAddress),
    ("http.response.status_code", Slot::HttpStatus),
    ("http.response.body.size", Slot::ResponseSize),
    ("server.address", Slot::ServerAddress),
    ("db.system.name", Slot::DbSystem),
    ("db.query.text", Slot::DbQuery),
    ("db.namespace", Slot::DbNamespace),
    ("db.user", Slot::DbUser),
    ("rpc.system", Slot::RpcSystem),
    ("rpc.service", Slot::RpcService),
    ("rpc.method", Slot::RpcMethod),
    ("cloud.region", Slot::CloudRegion),
    // Older conventions, still emitted by many instrumentations.
    ("http.method", Slot::HttpMethod),
    ("http.url", Slot::Url),
    ("http.user_agent", Slot::UserAgent),
    ("http.status_code", Slot::HttpStatus),
    ("db.system", Slot::DbSystem),
    ("db.statement", Slot::DbQuery),
    ("db.name", Slot::DbNamespace),
    ("net.peer.name", Slot::ServerAddress),
];

/// The slot of a field name, if it is a semantic-convention field this module maps.
pub(crate) fn slot(name: &str) -> Option<Slot> {
    // Every mapped name has a dot; most span fields have none, so this is usually one scan.
    if !name.contains('.') {
        return None;
    }
    TABLE.iter().find(|(n, _)| *n == name).map(|&(_, s)| s)
}

/// The semantic-convention values of one span (kept on the span, so that a value recorded
/// later with `Span::record` completes its block).
#[derive(Debug, Default)]
pub(crate) struct Collected {
    values: [Option<String>; SLOTS],
}

impl Collected {
    /// Keeps `value` for `slot` (a later value replaces an earlier one).
    pub(crate) fn set(&mut self, slot: Slot, value: String) {
        self.values[slot as usize] = Some(value);
    }

    fn get(&self, slot: Slot) -> Option<&str> {
        self.values[slot as usize].as_deref()
    }

    fn any(&self, slots: &[Slot]) -> bool {
        slots.iter().any(|&s| self.get(s).is_some())
    }

    /// Records the blocks these values fill on `ctx` (each block replaces the earlier one, so
    /// calling this again after more values arrived is right).
    pub(crate) fn apply(&self, ctx: &TraceContext) {
        use Slot::*;
        let http = self.any(&[HttpMethod, Url, UserAgent, ClientAddress]);
        let response = self.any(&[HttpStatus, ResponseSize]);
        let db = self.any(&[DbSystem, DbQuery, DbNamespace, DbUser]);
        let rpc = self.get(RpcSystem);
        let aws = rpc.is_some_and(|s| s == "aws-api");
        if http {
            ctx.http_request(&HttpRequest {
                method: self.get(HttpMethod),
                url: self.get(Url),
                user_agent: self.get(UserAgent),
                client_ip: self.get(ClientAddress),
                x_forwarded_for: false,
            });
        }
        if response {
            ctx.http_response(&HttpResponse {
                status: self.get(HttpStatus).and_then(|s| s.parse().ok()),
                content_length: self.get(ResponseSize).and_then(|s| s.parse().ok()),
            });
        }
        if db {
            let url = self
                .get(ServerAddress)
                .map(|host| match self.get(DbNamespace) {
                    Some(ns) => format!("{host}/{ns}"),
                    None => host.to_owned(),
                });
            ctx.sql(&Sql {
                url: url.as_deref(),
                sanitized_query: self.get(DbQuery),
                database_type: self.get(DbSystem),
                user: self.get(DbUser),
                ..Sql::default()
            });
        } else if let (Some(address), false) = (self.get(ServerAddress), http) {
            ctx.metadata("server.address", address);
        }
        if aws {
            ctx.aws(&Aws {
                operation: self.get(RpcMethod),
                region: self.get(CloudRegion),
                ..Aws::default()
            });
            ctx.namespace("aws");
        } else if http || response || db || rpc.is_some() {
            ctx.namespace("remote");
        }
        if let Some(region) = self.get(CloudRegion).filter(|_| !aws) {
            ctx.metadata("cloud.region", region);
        }
        if rpc.is_some() {
            if let Some(service) = self.get(RpcService) {
                ctx.metadata("rpc.service", service);
            }
            if let Some(method) = self.get(RpcMethod).filter(|_| !aws) {
                ctx.metadata("rpc.method", method);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_maps_once_and_has_a_dot() {
        for (i, (name, _)) in TABLE.iter().enumerate() {
            assert!(name.contains('.'), "{name}");
            assert!(TABLE[..i].iter().all(|(n, _)| n != name), "{name} twice");
            assert_eq!(slot(name), Some(TABLE[i].1));
        }
        assert_eq!(slot("order_id"), None);
        assert_eq!(slot("http.request.header.x"), None);
    }

    #[test]
    fn current_and_older_names_fill_the_same_slot() {
        assert_eq!(slot("http.request.method"), slot("http.method"));
        assert_eq!(slot("url.full"), slot("http.url"));
        assert_eq!(slot("db.query.text"), slot("db.statement"));
        assert_eq!(slot("db.system.name"), slot("db.system"));
        assert_eq!(slot("db.namespace"), slot("db.name"));
    }
}
