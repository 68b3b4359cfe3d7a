//! `netverdict schema`: the JSON Schema of the scenario format.

use std::io::Write;

use crate::cli::exit::{self, ExpectedError};

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub(crate) fn run(_: &SchemaArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let schema = serde_json::to_string_pretty(&crate::scenario::json_schema())
        .map_err(|e| ExpectedError::Output(e.into()))?;
    writeln!(out, "{schema}")?;
    Ok(exit::OK)
}
