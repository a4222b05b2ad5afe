#include "cli/commands/notify.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/client/error_kind.h"
#include "common/config/duration.h"

namespace fwd::cli::commands {
namespace {

using client::usageError;
using google::protobuf::util::TimeUtil;

const std::vector<std::string>& kinds() {
  static const std::vector<std::string> k = {"slack", "feishu", "matrix", "webhook"};
  return k;
}

const std::vector<std::string>& events() {
  static const std::vector<std::string> e = {"5xx", "all_upstreams_failed", "upstream_ejected",
                                             "budget_exceeded"};
  return e;
}

std::vector<FlagSpec> notifierFlags() {
  return {
      {"kind", FlagKind::kValue, "KIND", "slack, feishu, matrix or webhook"},
      {"url", FlagKind::kValue, "URL",
       "where messages go: a Slack or Feishu incoming webhook, a Matrix room's "
       "/send/m.room.message endpoint, or any http(s) URL"},
      {"on", FlagKind::kValue, "EVENTS",
       "comma-separated: 5xx, all_upstreams_failed, upstream_ejected, budget_exceeded "
       "(default: all)"},
      {"token", FlagKind::kValue, "TOKEN", "matrix: the access token messages are sent with"},
      {"window", FlagKind::kValue, "DURATION",
       "after a message, more of the same event and upstream within DURATION make one summary "
       "(default 5m)"},
      {"allow-private-address", FlagKind::kBool, "",
       "let the URL reach loopback, link-local and private addresses"},
  };
}

/// Copies the flags given into `n`, with their update-mask paths.
absl::Status applyFlags(const FlagValues& flags, fwd::v1::Notifier& n,
                        std::vector<std::string>& paths) {
  if (auto v = flags.value("kind")) {
    if (std::find(kinds().begin(), kinds().end(), *v) == kinds().end()) {
      return usageError("--kind \"" + *v + "\": use slack, feishu, matrix or webhook");
    }
    n.set_kind(*v);
    paths.push_back("kind");
  }
  if (auto v = flags.value("url")) {
    n.set_url(*v);
    paths.push_back("url");
  }
  if (auto v = flags.value("on")) {
    for (const std::string& e : std::vector<std::string>(absl::StrSplit(*v, ','))) {
      if (std::find(events().begin(), events().end(), e) == events().end()) {
        return usageError("--on \"" + e + "\": use " + absl::StrJoin(events(), ", "));
      }
      n.add_events(e);
    }
    paths.push_back("events");
  }
  if (auto v = flags.value("token")) {
    n.set_token(*v);
    paths.push_back("token");
  }
  auto window = flags.positiveDurationValue("window");
  if (!window.ok()) {
    return window.status();
  }
  if (window->has_value()) {
    *n.mutable_window() = **window;
    paths.push_back("window");
  }
  if (auto v = flags.boolValue("allow-private-address")) {
    n.set_allow_private_address(*v);
    paths.push_back("allow_private_address");
  }
  return absl::OkStatus();
}

std::string windowText(const fwd::v1::Notifier& n) {
  if (!n.has_window()) {
    return "5m";
  }
  return common::config::formatDuration(
      std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(n.window())));
}

absl::Status printOne(const fwd::v1::Notifier& n, OutputFormat format, const std::string& done,
                      std::ostream& out) {
  if (format == OutputFormat::kJson) {
    writeJson(out, notifierJson(n));
  } else {
    out << "notifier \"" << n.name() << "\" " << done << ": " << n.kind() << " to " << n.url()
        << ", on " << absl::StrJoin(n.events(), ",") << "\n";
  }
  return absl::OkStatus();
}

absl::StatusOr<Action> prepareAdd(const Invocation& inv) {
  if (!inv.flags.has("kind") || !inv.flags.has("url")) {
    return usageError("notify add needs --kind and --url");
  }
  fwd::v1::Notifier n;
  n.set_name(inv.args.at(0));
  std::vector<std::string> paths;
  if (absl::Status s = applyFlags(inv.flags, n, paths); !s.ok()) {
    return s;
  }
  OutputFormat format = inv.global.output;
  return Action([n, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    fwd::v1::CreateNotifierRequest request;
    *request.mutable_notifier() = n;
    auto created = api->createNotifier(request);
    if (!created.ok()) {
      return created.status();
    }
    return printOne(*created, format, "added", out);
  });
}

absl::StatusOr<Action> prepareUpdate(const Invocation& inv) {
  fwd::v1::UpdateNotifierRequest request;
  request.mutable_notifier()->set_name(inv.args.at(0));
  std::vector<std::string> paths;
  if (absl::Status s = applyFlags(inv.flags, *request.mutable_notifier(), paths); !s.ok()) {
    return s;
  }
  if (paths.empty()) {
    return usageError(
        "nothing to update: give --kind, --url, --on, --token, --window or "
        "--allow-private-address");
  }
  for (const std::string& p : paths) {
    request.mutable_update_mask()->add_paths(p);
  }
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto updated = api->updateNotifier(request);
    if (!updated.ok()) {
      return updated.status();
    }
    return printOne(*updated, format, "updated", out);
  });
}

absl::StatusOr<Action> prepareGet(const Invocation& inv) {
  fwd::v1::GetNotifierRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto n = api->getNotifier(request);
    if (!n.ok()) {
      return n.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, notifierJson(*n));
    } else {
      fwd::v1::ListNotifiersResponse one;
      *one.add_notifiers() = *n;
      out << notifierTable(one);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareList(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->listNotifiers(fwd::v1::ListNotifiersRequest());
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      Json all = Json::array();
      for (const fwd::v1::Notifier& n : response->notifiers()) {
        all.push_back(notifierJson(n));
      }
      writeJson(out, Json{{"notifiers", std::move(all)}});
    } else if (response->notifiers().empty()) {
      out << "no notifiers\n";
    } else {
      out << notifierTable(*response);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareRemove(const Invocation& inv) {
  fwd::v1::DeleteNotifierRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->deleteNotifier(request);
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, Json{{"name", request.name()}, {"removed", true}});
    } else {
      out << "notifier \"" << request.name() << "\" removed\n";
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareTest(const Invocation& inv) {
  fwd::v1::TestNotifierRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->testNotifier(request);
    if (!response.ok()) {
      return response.status();
    }
    const bool delivered = response->status() >= 200 && response->status() < 300;
    if (format == OutputFormat::kJson) {
      writeJson(
          out,
          Json{{"name", request.name()}, {"status", response->status()}, {"delivered", delivered}});
    } else {
      out << "test message to \"" << request.name() << "\": HTTP " << response->status()
          << (delivered ? " (delivered)" : " (not accepted)") << "\n";
    }
    if (!delivered) {
      return absl::FailedPreconditionError("the receiver answered HTTP " +
                                           std::to_string(response->status()));
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<CommandSpec> notifyCommands() {
  const std::string flags =
      "[--on EVENTS] [--token TOKEN] [--window DURATION] [--allow-private-address]";
  return {
      {"notify", "add", "NAME", "--kind slack|feishu|matrix|webhook --url URL " + flags,
       "send messages about trouble in the fleet to a chat or webhook", notifierFlags(),
       prepareAdd},
      {"notify", "get", "NAME", "", "show a notifier", {}, prepareGet},
      {"notify", "list", "", "", "list the notifiers", {}, prepareList},
      {"notify", "update", "NAME", "[--kind KIND] [--url URL] " + flags,
       "change some of a notifier's settings", notifierFlags(), prepareUpdate},
      {"notify", "remove", "NAME", "", "remove a notifier", {}, prepareRemove},
      {"notify",
       "test",
       "NAME",
       "",
       "send a test message now and show the receiver's answer",
       {},
       prepareTest},
  };
}

Json notifierJson(const fwd::v1::Notifier& n) {
  Json events = Json::array();
  for (const std::string& e : n.events()) {
    events.push_back(e);
  }
  return Json{{"name", n.name()},
              {"kind", n.kind()},
              {"url", n.url()},
              {"events", std::move(events)},
              {"allow_private_address", n.allow_private_address()},
              {"has_token", n.has_token()},
              {"window", windowText(n)},
              {"created", timestampJson(n.create_time())},
              {"updated", timestampJson(n.update_time())}};
}

std::string notifierTable(const fwd::v1::ListNotifiersResponse& response) {
  Table table({"NAME", "KIND", "URL", "EVENTS", "WINDOW"});
  for (const fwd::v1::Notifier& n : response.notifiers()) {
    table.addRow({n.name(), n.kind(), n.url(), absl::StrJoin(n.events(), ","), windowText(n)});
  }
  return table.render();
}

}  // namespace fwd::cli::commands
