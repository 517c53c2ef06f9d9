//! The relays: each is reached, greeted, encrypted and logged in to as a
//! send would, within its `timeout_secs`, then left with QUIT. No message
//! is sent.

use super::Report;
use crate::config::{Config, Relay};
use crate::transport::smtp::{Checked, Login, Smtp};

pub(super) fn check(config: &Config, report: &mut Report) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return report.fail(
                "smtp",
                format!("cannot start the network runtime: {e}"),
                "run `digest doctor` again; this is not a setting",
            );
        }
    };
    for relay in &config.relays {
        let topic = if config.relays.len() == 1 {
            "smtp".to_string()
        } else {
            format!("smtp relay {}", relay.name)
        };
        let smtp = match Smtp::new(relay) {
            Ok(smtp) => smtp,
            Err(e) => {
                report.fail(
                    &topic,
                    format!("{e:#}"),
                    "set the relay's credentials in the environment (see the README, Deploying)",
                );
                continue;
            }
        };
        let checked = runtime.block_on(smtp.check());
        judge(&topic, &checked, relay, report);
    }
}

/// One relay's line from what its check found.
fn judge(topic: &str, c: &Checked, relay: &Relay, report: &mut Report) {
    if let Some(why) = &c.error {
        return report.fail(
            topic,
            format!("cannot reach {}: {why}", c.relay),
            "check the relay's url and port, and that this server may connect to it \
             (a firewall, the provider's sending permissions)",
        );
    }
    let tls = if c.encrypted { "TLS" } else { "no TLS" };
    let login = match &c.login {
        Login::Ok => "logged in".to_string(),
        Login::NoCredentials => "no AUTH (no user name set)".to_string(),
        Login::Refused(why) => {
            return report.fail(
                topic,
                format!("{} refused the login: {why}", c.relay),
                format!(
                    "check the user name and password ({}_USERNAME and _PASSWORD or _PASSWORD_FILE)",
                    relay.env
                ),
            );
        }
        Login::NotTried => "not logged in".to_string(),
    };
    let line = format!("{} reached, {tls}, {login}", c.relay);
    let host = relay.url.host.as_str();
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !c.encrypted && !local {
        report.warn(
            topic,
            format!("{line}: mail and credentials cross the network unencrypted"),
            "add ?tls=required to the relay's url (port 587), or use smtps:// (port 465)",
        );
    } else {
        report.ok(topic, line);
    }
}
