#include "controlplane/notify/notifier_config.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "controlplane/notify/destination.h"
#include "controlplane/validate/validate.h"

namespace fwd::controlplane::notify {
namespace {

using google::protobuf::util::TimeUtil;

constexpr std::array<std::string_view, 4> kKinds = {"slack", "feishu", "matrix", "webhook"};
constexpr std::array<std::string_view, 4> kEvents = {"5xx", "all_upstreams_failed",
                                                     "upstream_ejected", "budget_exceeded"};
constexpr std::array<std::string_view, 6> kPaths = {"kind",  "url",    "events",
                                                    "token", "window", "allow_private_address"};

}  // namespace

absl::Status normalizeNotifier(fwd::v1::Notifier& n) {
  if (absl::Status s = validate::checkName("notifier.name", n.name()); !s.ok()) {
    return s;
  }
  if (std::find(kKinds.begin(), kKinds.end(), n.kind()) == kKinds.end()) {
    return absl::InvalidArgumentError(
        "notifier.kind: use slack, feishu, matrix or webhook, got \"" + n.kind() + "\"");
  }
  if (absl::StatusOr<WebhookUrl> url = parseWebhookUrl(n.url()); !url.ok()) {
    return absl::InvalidArgumentError("notifier." + std::string(url.status().message()));
  }
  if (n.kind() == "matrix" && n.token().empty()) {
    return absl::InvalidArgumentError(
        "notifier.token: a matrix notifier needs the access token of the user it posts as");
  }
  if (n.kind() != "matrix" && !n.token().empty()) {
    return absl::InvalidArgumentError("notifier.token: only a matrix notifier takes a token");
  }
  if (n.events().empty()) {
    for (std::string_view e : kEvents) {
      n.add_events(std::string(e));
    }
  }
  for (const std::string& e : n.events()) {
    if (std::find(kEvents.begin(), kEvents.end(), e) == kEvents.end()) {
      return absl::InvalidArgumentError(
          "notifier.events: \"" + e +
          "\" is not one of 5xx, all_upstreams_failed, upstream_ejected, budget_exceeded");
    }
  }
  if (n.has_window()) {
    const std::int64_t ms = TimeUtil::DurationToMilliseconds(n.window());
    if (ms < 1000 || ms > 24 * 3600 * 1000) {
      return absl::InvalidArgumentError("notifier.window: 1s to 24h");
    }
  }
  n.clear_has_token();
  n.clear_id();
  n.clear_create_time();
  n.clear_update_time();
  return absl::OkStatus();
}

absl::Status checkNotifierMask(const google::protobuf::FieldMask& mask) {
  if (mask.paths().empty()) {
    return absl::InvalidArgumentError("update_mask: name at least one field");
  }
  for (const std::string& p : mask.paths()) {
    if (std::find(kPaths.begin(), kPaths.end(), p) == kPaths.end()) {
      return absl::InvalidArgumentError("update_mask: \"" + p +
                                        "\" is not a field of a notifier that can be changed");
    }
  }
  return absl::OkStatus();
}

void applyNotifierMask(const fwd::v1::Notifier& patch, const google::protobuf::FieldMask& mask,
                       fwd::v1::Notifier& target) {
  for (const std::string& p : mask.paths()) {
    if (p == "kind") {
      target.set_kind(patch.kind());
    } else if (p == "url") {
      target.set_url(patch.url());
    } else if (p == "events") {
      *target.mutable_events() = patch.events();
    } else if (p == "token") {
      target.set_token(patch.token());
    } else if (p == "window") {
      if (patch.has_window()) {
        *target.mutable_window() = patch.window();
      } else {
        target.clear_window();
      }
    } else if (p == "allow_private_address") {
      target.set_allow_private_address(patch.allow_private_address());
    }
  }
}

fwd::v1::Notifier redacted(const fwd::v1::Notifier& n) {
  fwd::v1::Notifier out = n;
  out.set_url(redactedUrl(n.url()));
  out.set_has_token(!n.token().empty());
  out.clear_token();
  return out;
}

}  // namespace fwd::controlplane::notify
