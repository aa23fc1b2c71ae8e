//! Where a worker hands a run over to be executed. The in-process thread
//! executor is the one implementation today; an isolated executor (a worker
//! process with hard limits, or a dedicated Python executor) implements the
//! same trait and the service does not change.

use crate::registry::Registry;
use crate::runner::{self, Execution, Run, RunOutcome};

/// Executes runs for the service's workers. `execute` blocks the calling
/// thread until the run ends or times out: a worker thread, or, for a run
/// of an algorithm known to be quick, the thread that submitted it (see
/// `quick`).
pub trait Executor: Send + Sync {
    /// Executes `run` (status `running`, params already validated), reporting
    /// progress and logs to `execution.observer` as they happen.
    fn execute(&self, registry: &Registry, run: Run, execution: Execution) -> RunOutcome;
}

/// Runs the plugin in this process, on its own thread, with cooperative
/// cancellation and a deadline ([`runner::run_prepared`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadExecutor;

impl Executor for ThreadExecutor {
    fn execute(&self, registry: &Registry, run: Run, execution: Execution) -> RunOutcome {
        runner::run_prepared(registry, run, execution)
    }
}
