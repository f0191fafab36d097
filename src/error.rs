//! How a failure reads to the person who ran the command: one message with its causes,
//! secrets scrubbed. Which exit code it ends in is decided where commands are
//! dispatched (`commands::exit`), so this ground floor knows no command.

/// The error and its causes on one line: `what failed: because: because`.
pub fn message(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    crate::scrub::scrub_text(&text)
}
