//! The settings an entry gives all its probes: timeout, deny mode, the HTTP check and the DNS
//! query, each checked for the kinds of probe it applies to.

use std::time::Duration;

use super::entry::{Expander, Reported};
use std::net::IpAddr;

use netverdict_engine::Quoted;

use crate::model::{DnsAnswer, DnsCheck, HttpCheck};
use crate::names;
use crate::raw::{DenyMode, RawAnswer, RawProbe, Scheme, Via};

/// Settings shared by the probes of one `spec.probes` entry.
pub(super) struct Settings {
    pub(super) deny: DenyMode,
    pub(super) timeout: Duration,
    /// Used by the entry's `via: http` probes.
    pub(super) http: HttpCheck,
    /// Used by the entry's `via: dns` probes.
    pub(super) dns: Option<DnsCheck>,
}

impl Expander<'_, '_> {
    /// The settings of the entry at `path`; `None` once every problem with them is reported.
    /// `matrix` entries may hold HTTP and DNS fields for the cells they apply to.
    pub(super) fn settings(
        &mut self,
        raw: &RawProbe,
        path: &str,
        via: Option<Via>,
        matrix: bool,
    ) -> Option<Settings> {
        let timeout = self.timeout(raw, path);
        let applicable = self.fields_apply(raw, path, via, matrix);
        let http = self.http_check(raw, path);
        let query = self.dns_query(raw, path, via);
        let answer = self.dns_answer(raw, path);
        applicable.ok()?;
        let answer = answer.ok()?;
        Some(Settings {
            deny: raw.deny.as_ref().map_or(self.defaults.deny, |d| d.value),
            timeout: timeout.ok()?,
            http: http.ok()?,
            dns: query.ok()?.map(|query| DnsCheck { query, answer }),
        })
    }

    fn timeout(&mut self, raw: &RawProbe, path: &str) -> Result<Duration, Reported> {
        match &raw.timeout {
            Some(t) => self
                .report
                .duration(t, &format!("{path}.timeout"))
                .ok_or(Reported),
            None => Ok(self.defaults.timeout),
        }
    }

    /// HTTP fields only on `via: http` probes, `query` only on `via: dns` probes.
    fn fields_apply(
        &mut self,
        raw: &RawProbe,
        path: &str,
        via: Option<Via>,
        matrix: bool,
    ) -> Result<(), Reported> {
        let mut result = Ok(());
        let http_fields = raw.path.is_some() || raw.scheme.is_some() || raw.status.is_some();
        if http_fields && !matrix && via != Some(Via::Http) {
            self.report.error(
                path,
                "`path`, `scheme` and `status` only apply to `via: http` probes",
            );
            result = Err(Reported);
        }
        if raw.query.is_some() && via != Some(Via::Dns) && !matrix {
            self.report.error(
                &format!("{path}.query"),
                "`query` only applies to `via: dns` probes",
            );
            result = Err(Reported);
        }
        if raw.answer.is_some() && via != Some(Via::Dns) && !matrix {
            self.report.error(
                &format!("{path}.answer"),
                "`answer` only applies to `via: dns` probes",
            );
            result = Err(Reported);
        }
        result
    }

    fn http_check(&mut self, raw: &RawProbe, path: &str) -> Result<HttpCheck, Reported> {
        let http_path = match &raw.path {
            Some(p) => match names::http_path(&p.value) {
                Ok(()) => Ok(p.value.clone()),
                Err(e) => {
                    self.report.error_at(p, &format!("{path}.path"), e);
                    Err(Reported)
                }
            },
            None => Ok("/".to_string()),
        };
        let status = match &raw.status {
            Some(s) if (100..=599).contains(&s.value) => Ok(u16::try_from(s.value).ok()),
            Some(s) => {
                self.report.error_at(
                    s,
                    &format!("{path}.status"),
                    format!("{} is not an HTTP status code (100-599)", s.value),
                );
                Err(Reported)
            }
            None => Ok(None),
        };
        Ok(HttpCheck {
            scheme: raw.scheme.unwrap_or(Scheme::Http),
            path: http_path?,
            status: status?,
        })
    }

    /// The name a DNS probe resolves; a `via: dns` entry needs one.
    fn dns_query(
        &mut self,
        raw: &RawProbe,
        path: &str,
        via: Option<Via>,
    ) -> Result<Option<String>, Reported> {
        match &raw.query {
            Some(q) => match names::dns_name(&q.value) {
                Ok(()) => Ok(Some(q.value.clone())),
                Err(e) => {
                    self.report.error_at(q, &format!("{path}.query"), e);
                    Err(Reported)
                }
            },
            None if via == Some(Via::Dns) => {
                self.report.error(
                    path,
                    "a `via: dns` probe needs `query`, the name to resolve",
                );
                Err(Reported)
            }
            None => Ok(None),
        }
    }

    /// What a DNS probe's answer must be, when the entry says.
    fn dns_answer(&mut self, raw: &RawProbe, path: &str) -> Result<Option<DnsAnswer>, Reported> {
        let Some(answer) = &raw.answer else {
            return Ok(None);
        };
        let field = format!("{path}.answer");
        match &answer.value {
            RawAnswer::Word(word) => match word.trim() {
                "nxdomain" => Ok(Some(DnsAnswer::Nxdomain)),
                "resolves" => Ok(Some(DnsAnswer::Resolves)),
                other => {
                    let hint = names::suggestion(other, ["nxdomain", "resolves"]);
                    self.report.error_at(
                        answer,
                        &field,
                        format!(
                            "{} is no answer: use nxdomain, resolves or {{addresses: [...]}}{hint}",
                            Quoted(other)
                        ),
                    );
                    Err(Reported)
                }
            },
            RawAnswer::Addresses(list) => {
                let mut addresses = Vec::with_capacity(list.addresses.len());
                for (i, text) in list.addresses.iter().enumerate() {
                    match text.parse::<IpAddr>() {
                        Ok(ip) => addresses.push(ip),
                        Err(_) => {
                            self.report.error_at(
                                answer,
                                &format!("{field}.addresses[{i}]"),
                                format!("{} is not an IP address", Quoted(text)),
                            );
                            return Err(Reported);
                        }
                    }
                }
                if addresses.is_empty() {
                    self.report.error_at(
                        answer,
                        &format!("{field}.addresses"),
                        "list at least one address; `answer: nxdomain` is for a name that must not exist",
                    );
                    return Err(Reported);
                }
                addresses.sort_unstable();
                addresses.dedup();
                Ok(Some(DnsAnswer::Addresses(addresses)))
            }
        }
    }
}
