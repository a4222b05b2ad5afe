// One message to one notifier (issue 17): the request each kind of receiver understands, sent
// over HTTP(S) from the control plane with a deadline, to an address vetted as destination.h
// says. Slack and Feishu get their incoming-webhook JSON, Matrix a room message (PUT with the
// notifier's access token), a plain webhook the event as JSON fields.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/notify/destination.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::controlplane::notify {

/// What happened, for people and for programs.
struct Message {
  std::string event;  // "5xx", "all_upstreams_failed", "upstream_ejected", "budget_exceeded",
                      // or "test"
  std::string upstream;
  std::string key;
  std::string node;
  std::string text;         // one line: what a chat message shows
  std::uint64_t count = 1;  // the events this message stands for (a window's summary: more)
  std::int64_t time_ms = 0;
};

struct HttpRequest {
  std::string method;  // POST, or PUT for Matrix
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// The request `notifier` (its kind, URL and token) gets for `message`; `txn_id` makes a Matrix
/// send idempotent when it is retried.
HttpRequest requestFor(const fwd::v1::Notifier& notifier, const WebhookUrl& url,
                       const Message& message, const std::string& txn_id);

/// Sends `message`: the receiver's HTTP status (2xx: delivered), else FAILED_PRECONDITION (a
/// URL that does not parse or a refused destination) or UNAVAILABLE (no connection, TLS
/// failed, no answer within `timeout`). HTTPS verifies the receiver's certificate and name
/// against the system's CA store.
absl::StatusOr<int> deliver(const fwd::v1::Notifier& notifier, const Message& message,
                            const std::string& txn_id, std::chrono::milliseconds timeout);

}  // namespace fwd::controlplane::notify
