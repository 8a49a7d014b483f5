//! What goes out: an alert notice (or a test) worded for people, or a
//! healthchecks ping; and each kind's wire shape for it.

use cairn_domain::{Millis, Severity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One notice about an alert (or a test), as every channel words it. It is
/// also the outbox's stored payload and, under `"version": 1`, the generic
/// webhook's body. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// `alert.fired`, `alert.still_firing`, `alert.resolved` or `test`.
    pub event: String,
    /// The alert, if this is about one.
    pub alert_id: Option<i64>,
    /// The alert's kind (`job_failed`, …), if any.
    pub kind: Option<String>,
    pub severity: Severity,
    /// What the alert is about ("host:12").
    pub subject: String,
    /// The host concerned, by name.
    pub host: Option<String>,
    /// What happened, in a sentence.
    pub message: String,
    /// When the alert fired.
    pub fired_at: Option<Millis>,
    /// When this happened.
    pub at: Millis,
    /// Where to look in the console.
    pub link: Option<String>,
}

impl Notice {
    /// Whether this says an alert cleared.
    pub fn is_resolution(&self) -> bool {
        self.event == "alert.resolved"
    }

    /// A one-line title ("[CRITICAL] job_failed on web-1").
    pub fn title(&self) -> String {
        let tag = match self.event.as_str() {
            "alert.resolved" => "RESOLVED".to_string(),
            "test" => "TEST".to_string(),
            _ => self.severity.as_str().to_uppercase(),
        };
        let what = self.kind.as_deref().unwrap_or("notification");
        let on = self.host.as_deref().unwrap_or(&self.subject);
        format!("[{tag}] Cairn: {what} on {on}")
    }

    /// The text body: the message, then where to look.
    pub fn text(&self) -> String {
        match &self.link {
            Some(link) => format!("{}\n{link}", self.message),
            None => self.message.clone(),
        }
    }
}

/// A healthchecks ping's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PingPhase {
    /// The backup started running (`<url>/start`).
    Start,
    /// It succeeded (`<url>`).
    Success,
    /// It failed (`<url>/fail`).
    Fail,
    /// A test: logged by the check without changing its state (`<url>/log`).
    Log,
}

impl PingPhase {
    /// What is appended to the ping URL.
    pub fn suffix(self) -> &'static str {
        match self {
            PingPhase::Start => "/start",
            PingPhase::Success => "",
            PingPhase::Fail => "/fail",
            PingPhase::Log => "/log",
        }
    }
}

/// One thing to send through a channel: the outbox's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outgoing {
    /// An alert notice or a test, for every kind but healthchecks.
    Notice(Notice),
    /// A healthchecks ping for a schedule's backup. `schedule_id` 0 with
    /// `Log` is a test of every stored URL.
    Ping {
        schedule_id: i64,
        phase: PingPhase,
        /// The request body (a short summary; healthchecks shows it).
        text: String,
    },
}

/// The generic webhook's body.
pub fn webhook_body(notice: &Notice) -> Value {
    let mut body = json!({ "version": 1 });
    if let (Value::Object(out), Ok(Value::Object(fields))) =
        (&mut body, serde_json::to_value(notice))
    {
        out.extend(fields);
    }
    if let Value::Object(out) = &mut body {
        out.insert("title".into(), Value::String(notice.title()));
    }
    body
}

/// A Slack-compatible incoming webhook's body (Mattermost and Rocket.Chat
/// take the same `text`).
pub fn slack_body(notice: &Notice) -> Value {
    let text = format!("*{}*\n{}", notice.title(), notice.text());
    json!({ "text": slack_escaped(&text) })
}

/// Slack's three control characters escaped, so agent-supplied text (a
/// hostname, a job's error) cannot ping `<!channel>` or hide a link.
fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Discord-compatible webhook's body: one embed, coloured by severity.
pub fn discord_body(notice: &Notice) -> Value {
    let color = match (notice.is_resolution(), notice.severity) {
        (true, _) => 0x2e_a0_43,
        (false, Severity::Critical) => 0xd0_3b_3b,
        (false, Severity::Warning) => 0xe0_a0_20,
        (false, Severity::Info) => 0x3b_82_d0,
    };
    json!({
        "username": "Cairn",
        // Agent-supplied text must not ping anyone (`@everyone`, roles).
        "allowed_mentions": { "parse": [] },
        "embeds": [{
            "title": notice.title(),
            "description": notice.text(),
            "color": color,
        }],
    })
}

/// An ntfy JSON publish (POSTed to the server's root).
pub fn ntfy_body(notice: &Notice, topic: &str, priority: u8) -> Value {
    let mut body = json!({
        "topic": topic,
        "title": notice.title(),
        "message": notice.text(),
        "tags": [if notice.is_resolution() { "white_check_mark" } else { notice.severity.as_str() }],
    });
    if let (Value::Object(out), 1..=5) = (&mut body, priority) {
        out.insert("priority".into(), json!(priority));
    }
    body
}

/// A Gotify message (POSTed to `<server>/message`).
pub fn gotify_body(notice: &Notice, priority: u8) -> Value {
    json!({
        "title": notice.title(),
        "message": notice.text(),
        "priority": priority,
    })
}

#[cfg(test)]
pub(crate) fn sample() -> Notice {
    Notice {
        event: "alert.fired".into(),
        alert_id: Some(7),
        kind: Some("job_failed".into()),
        severity: Severity::Critical,
        subject: "schedule:3".into(),
        host: Some("web-1".into()),
        message: "backup of web-1 failed: repository locked".into(),
        fired_at: Some(1_000),
        at: 1_000,
        link: Some("https://cairn.example/alerts".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_gets_its_shape() {
        let notice = sample();
        let hook = webhook_body(&notice);
        assert_eq!(hook["version"], 1);
        assert_eq!(hook["event"], "alert.fired");
        assert_eq!(hook["severity"], "critical");
        assert_eq!(hook["title"], "[CRITICAL] Cairn: job_failed on web-1");
        assert!(
            slack_body(&notice)["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("*[CRITICAL]"))
        );
        assert_eq!(discord_body(&notice)["embeds"][0]["color"], 0xd0_3b_3b);
        assert_eq!(ntfy_body(&notice, "ops", 4)["priority"], 4);
        assert!(ntfy_body(&notice, "ops", 0).get("priority").is_none());
        assert_eq!(gotify_body(&notice, 8)["priority"], 8);
    }

    #[test]
    fn agent_text_cannot_ping_or_hide_links_in_chat() {
        let mut notice = sample();
        notice.message = "failed on <!channel> <https://evil.example|your bank> & more".into();
        let slack = slack_body(&notice)["text"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            !slack.contains("<!channel>") && !slack.contains("<https://"),
            "{slack}"
        );
        assert!(
            slack.contains("&lt;!channel&gt;") && slack.contains("&amp; more"),
            "{slack}"
        );
        let discord = discord_body(&notice);
        assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
    }

    #[test]
    fn the_outbox_payload_round_trips() {
        let out = Outgoing::Notice(sample());
        let json = serde_json::to_string(&out).expect("serialises");
        assert_eq!(serde_json::from_str::<Outgoing>(&json).ok(), Some(out));
    }
}
