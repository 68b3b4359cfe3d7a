//! `netverdict serve` (the responder in probe pods) and `netverdict probe-batch` (the agent the
//! runner execs in them).

use std::io::Write;

use crate::cli::exit::{self, ExpectedError};

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExpectedError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            ExpectedError::CouldNotJudge(format!("cannot start the async runtime: {error}"))
        })
}

pub(crate) fn serve(
    args: &netverdict_probes::ServeArgs,
    _out: &mut dyn Write,
) -> Result<u8, ExpectedError> {
    let config = args.to_config();
    runtime()?
        .block_on(netverdict_probes::serve(config))
        .map_err(|error| ExpectedError::CouldNotJudge(format!("serve: {error}")))?;
    Ok(exit::OK)
}

pub(crate) fn probe_batch(
    args: &netverdict_probes::ProbeBatchArgs,
    _out: &mut dyn Write,
) -> Result<u8, ExpectedError> {
    match runtime()?.block_on(netverdict_probes::probe_batch(args.clone())) {
        Ok(_) => Ok(exit::OK),
        Err(error) => {
            eprintln!("probe-batch: {error}");
            Ok(error.exit_code())
        }
    }
}
