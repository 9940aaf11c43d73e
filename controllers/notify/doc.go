// Package notify tells people about Rollout phase changes and lets them act on
// Rollouts from Slack.
//
// # Notifications
//
// The Rollout controller sends an Event on every phase change, after its
// status patch succeeds, through the Notifier that New picks:
//
//   - with a Slack bot token, a Block Kit message in the default channel (or
//     the event's own channel): the phase, the step, the canary and stable
//     revisions, the canary weight, the reason, and a button for each action
//     that makes sense now (Approve and Abort while waiting for approval, Abort
//     while progressing, Retry after a rollback, Promote);
//   - without a token, one structured log line per event.
//
// Notifications are best-effort. Every result is counted in
// ramp_notifications_total{notifier="slack"|"log",result="success"|"failure"},
// and a failed notification never fails a reconcile.
//
// # Setting up the Slack app
//
// Create a Slack app for your workspace, then:
//
//  1. Under OAuth & Permissions, add the bot token scopes chat:write (to post
//     notifications) and commands (for the slash command). Install the app and
//     copy the bot token (xoxb-...) into Config.Token. Invite the bot to the
//     channels it posts in (/invite @ramp), or add chat:write.public.
//  2. Copy the signing secret from Basic Information into Config.SigningSecret.
//  3. Under Interactivity & Shortcuts, turn interactivity on and set the request
//     URL to https://<controller address>/slack/actions.
//  4. Under Slash Commands, create /ramp with the request URL
//     https://<controller address>/slack/commands.
//
// # Socket Mode
//
// When the controller cannot be reached from the internet, use Socket Mode
// instead of request URLs: turn Socket Mode on in the app settings, create an
// app-level token with the connections:write scope, set Config.AppToken to it
// (xapp-...) and Config.Mode to "socket", and run RunSocketMode. Slack then
// delivers button clicks and slash commands over a websocket the controller
// opens. Socket Mode requests are not signed (the signing secret is unused);
// the websocket is authenticated by the app-level token. Authorization and
// idempotency are the same as over HTTP.
//
// # Slash commands
//
//	/ramp approve <namespace>/<rollout>
//	/ramp abort <namespace>/<rollout>
//	/ramp promote <namespace>/<rollout>
//	/ramp retry <namespace>/<rollout>
//	/ramp status <namespace>/<rollout>
//	/ramp help
//
// A rollout without a namespace is in namespace default. Successful actions
// are answered in the channel; errors, refusals and status only to the user
// who asked.
//
// # Who may act
//
// Only the users in Config.AllowedUsers may approve, abort, promote or retry.
// An entry matches a Slack user ID (U012AB3CD, found under "Copy member ID" in
// a profile) or a username, with or without a leading @; prefer IDs, because
// people can change their usernames. An empty list means nobody may act: every button and slash
// command is refused, and the controller logs a warning at startup. Refusals
// are answered only to the user and logged. Anyone who can use the slash
// command may read a rollout's status and the help.
//
// # Security and idempotency
//
// The HTTP handler accepts only POST requests of at most 64 KiB whose
// X-Slack-Signature is the HMAC-SHA256 of "v0:<timestamp>:<body>" under the
// signing secret (compared in constant time), and whose
// X-Slack-Request-Timestamp is within 5 minutes of the controller's clock,
// either way. Anything else gets 401.
//
// Every action carries an ID, and applying the same ID twice has no further
// effect:
//
//   - a button's value is
//     <namespace>/<rollout>/<action>/<event-id>/<generation>/<canary>, where
//     the event ID is a hash of the namespace, the name, the canary revision,
//     the step, the phase and the time of the transition; the action ID is the
//     action and the event ID, so every click on the same button, by anyone,
//     names the same action, and a rollout that pauses again at the same step
//     gets new buttons;
//   - a slash command's action ID is a hash of its request body, which holds
//     the invocation's trigger_id, so a redelivery of one command names the
//     same action and typing the command again names a new one.
//
// The handler remembers the last 1024 action IDs and answers repeats with
// "Already done" without acting. RolloutActor, the Kubernetes Actor, writes
// the action to the Rollout as the annotations rollouts.ramp.dev/action,
// rollouts.ramp.dev/action-id and rollouts.ramp.dev/action-by (slack:<user
// ID>), skips the patch when the Rollout already carries the ID (answered
// "Already done" too, so a retry that reaches another replica, or the
// controller after a restart, does not act again), and the Rollout
// controller applies each action ID once.
//
// # Out-of-date buttons
//
// A button names the run of the Rollout it was made for: the Rollout's
// metadata.generation and the canary revision in its status when the
// message was sent (the canary is empty if its revision did not exist yet).
// A click is refused, only to the user who clicked, with what the Rollout is
// doing now, and nothing is changed, when the Rollout is no longer on that
// run: its spec changed since (any spec change makes a new generation, and a
// new template also starts a new canary; the next notification brings new
// buttons, and until then the slash commands work), or the rollout of that
// canary is over. RolloutActor checks this before it writes
// the annotations, and also writes rollouts.ramp.dev/action-run
// (<action-id>/<generation>/<canary>); the Rollout controller ignores the
// action (status.lastAction says why) if the Rollout left that run in
// between. The run annotation counts only for its own action ID, so an
// action set later by the CLI or kubectl is not held to it. A retry of the
// same revision at the same generation is the same run: its earlier buttons
// still work, within what the controller allows in the current phase.
// Buttons of messages sent by an earlier Ramp, which name no run, are
// refused with a pointer to the latest message and the slash command.
// Slash commands act on the Rollout as it is and are not checked.
package notify
