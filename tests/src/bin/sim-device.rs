//! `sim-device`: one simulated device in its own process, killed with SIGKILL at a chosen
//! point (see `gridline_e2e::sim::proc`).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match gridline_e2e::sim::proc::device_main(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
