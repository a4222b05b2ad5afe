#include "cli/commands/upstream.h"

#include <algorithm>

#include "cli/client/error_kind.h"
#include "cli/commands/health.h"
#include "common/config/duration.h"

namespace fwd::cli::commands {
namespace {

using client::usageError;
using fwd::common::config::formatDuration;

// FieldMask paths in the order admin.proto lists them, so a mask never depends on flag order.
constexpr const char* kPathOrder[] = {"base_url", "api_key", "api_key_env", "models",
                                      "priority", "weight",  "timeout",     "insecure_skip_verify"};

std::vector<FlagSpec> upstreamFlags(bool update) {
  std::vector<FlagSpec> flags = {
      {"base-url", FlagKind::kValue, "URL",
       "http(s)://host[:port][/prefix], e.g. https://api.openai.com/v1"},
      {"api-key", FlagKind::kValue, "KEY", "credential stored by the control plane"},
      {"api-key-env", FlagKind::kValue, "VAR",
       "environment variable holding the credential on each data-plane host"},
      {"model", FlagKind::kRepeated, "PATTERN", "model glob served, repeatable"},
      {"priority", FlagKind::kValue, "N", "lower is tried first (default 0)"},
      {"weight", FlagKind::kValue, "N", "relative share for weighted balancing (default 1)"},
      {"timeout", FlagKind::kValue, "DURATION", "per-attempt timeout, e.g. 30s (default 600s)"},
      {"insecure-skip-verify", FlagKind::kBool, "", "skip TLS certificate verification"},
  };
  if (update) {
    flags.push_back({"clear-models", FlagKind::kBool, "", "set the model list to empty"});
  }
  return flags;
}

// Copies every given flag into `upstream` and records its FieldMask path.
absl::Status applyFlags(const FlagValues& flags, fwd::v1::Upstream& upstream,
                        std::vector<std::string>& paths) {
  if (flags.has("api-key") && flags.has("api-key-env")) {
    return usageError("--api-key and --api-key-env cannot be used together");
  }
  if (auto v = flags.value("base-url")) {
    if (v->empty()) {
      return usageError("--base-url is empty");
    }
    upstream.set_base_url(*v);
    paths.push_back("base_url");
  }
  if (auto v = flags.value("api-key")) {
    if (v->empty()) {
      return usageError("--api-key is empty");
    }
    upstream.set_api_key(*v);
    paths.push_back("api_key");
  }
  if (auto v = flags.value("api-key-env")) {
    if (v->empty()) {
      return usageError("--api-key-env is empty");
    }
    upstream.set_api_key_env(*v);
    paths.push_back("api_key_env");
  }
  bool clear_models = flags.boolValue("clear-models").value_or(false);
  if (clear_models && flags.has("model")) {
    return usageError("--clear-models and --model cannot be used together");
  }
  if (flags.has("model") || clear_models) {
    for (const std::string& model : flags.values("model")) {
      if (model.empty()) {
        return usageError("--model is empty");
      }
      upstream.add_models(model);
    }
    paths.push_back("models");
  }
  auto priority = flags.int32Value("priority");
  if (!priority.ok()) {
    return priority.status();
  }
  if (priority->has_value()) {
    upstream.set_priority(**priority);
    paths.push_back("priority");
  }
  auto weight = flags.uint32Value("weight");
  if (!weight.ok()) {
    return weight.status();
  }
  if (weight->has_value()) {
    upstream.set_weight(**weight);
    paths.push_back("weight");
  }
  auto timeout = flags.durationValue("timeout");
  if (!timeout.ok()) {
    return timeout.status();
  }
  if (timeout->has_value()) {
    if ((*timeout)->count() <= 0) {
      return usageError("--timeout must be positive");
    }
    *upstream.mutable_timeout() = toProtoDuration(**timeout);
    paths.push_back("timeout");
  }
  if (auto v = flags.boolValue("insecure-skip-verify")) {
    upstream.set_insecure_skip_verify(*v);
    paths.push_back("insecure_skip_verify");
  }
  return absl::OkStatus();
}

std::vector<fwd::v1::Upstream> asVector(
    const google::protobuf::RepeatedPtrField<fwd::v1::Upstream>& upstreams) {
  return {upstreams.begin(), upstreams.end()};
}

std::chrono::milliseconds effectiveTimeout(const fwd::v1::Upstream& upstream) {
  return upstream.has_timeout() ? toMillis(upstream.timeout()) : kDefaultUpstreamTimeout;
}

std::uint32_t effectiveWeight(const fwd::v1::Upstream& upstream) {
  return upstream.weight() == 0 ? 1 : upstream.weight();
}

// "…abcd" as the server reports it; should a server ever echo the key, only its tail is shown.
std::string keyHint(const fwd::v1::Upstream& upstream) {
  if (!upstream.api_key_hint().empty()) {
    return upstream.api_key_hint();
  }
  const std::string& key = upstream.api_key();
  return "…" + key.substr(key.size() > 4 ? key.size() - 4 : key.size());
}

bool hasStoredKey(const fwd::v1::Upstream& upstream) {
  return upstream.credential_case() == fwd::v1::Upstream::kApiKey ||
         (upstream.credential_case() == fwd::v1::Upstream::CREDENTIAL_NOT_SET &&
          !upstream.api_key_hint().empty());
}

absl::StatusOr<Action> prepareAdd(const Invocation& inv) {
  auto request = buildCreateUpstreamRequest(inv);
  if (!request.ok()) {
    return request.status();
  }
  OutputFormat format = inv.global.output;
  return Action([request = *std::move(request), format](client::AdminApi* api,
                                                        std::ostream& out) -> absl::Status {
    auto upstream = api->createUpstream(request);
    if (!upstream.ok()) {
      return upstream.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, upstreamJson(*upstream));
    } else {
      out << "upstream " << quoted(upstream->name()) << " created\n";
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareUpdate(const Invocation& inv) {
  auto request = buildUpdateUpstreamRequest(inv);
  if (!request.ok()) {
    return request.status();
  }
  OutputFormat format = inv.global.output;
  return Action([request = *std::move(request), format](client::AdminApi* api,
                                                        std::ostream& out) -> absl::Status {
    auto upstream = api->updateUpstream(request);
    if (!upstream.ok()) {
      return upstream.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, upstreamJson(*upstream));
    } else {
      out << "upstream " << quoted(upstream->name()) << " updated\n";
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareList(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->listUpstreams(fwd::v1::ListUpstreamsRequest());
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      Json list = Json::array();
      for (const fwd::v1::Upstream& u : response->upstreams()) {
        list.push_back(upstreamJson(u));
      }
      writeJson(out, Json{{"upstreams", std::move(list)}});
    } else {
      out << upstreamTable(asVector(response->upstreams()));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareGet(const Invocation& inv) {
  fwd::v1::GetUpstreamRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto upstream = api->getUpstream(request);
    if (!upstream.ok()) {
      return upstream.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, upstreamJson(*upstream));
    } else {
      out << upstreamDetail(*upstream);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareRemove(const Invocation& inv) {
  fwd::v1::DeleteUpstreamRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->deleteUpstream(request);
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, Json{{"removed", request.name()}, {"version", response->version()}});
    } else {
      out << "upstream " << quoted(request.name()) << " removed (config version "
          << response->version() << ")\n";
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<CommandSpec> upstreamCommands() {
  const std::string flags_synopsis =
      "[--api-key KEY | --api-key-env VAR] [--model PATTERN]... [--priority N] [--weight N] "
      "[--timeout DURATION] [--insecure-skip-verify]";
  return {
      {"upstream", "add", "NAME", "--base-url URL " + flags_synopsis, "create an upstream",
       upstreamFlags(false), prepareAdd},
      {"upstream", "list", "", "", "list upstreams in the order they are tried", {}, prepareList},
      {"upstream", "get", "NAME", "", "show one upstream", {}, prepareGet},
      {"upstream", "update", "NAME", "[--base-url URL] " + flags_synopsis + " [--clear-models]",
       "change the given fields of an upstream", upstreamFlags(true), prepareUpdate},
      {"upstream", "remove", "NAME", "", "delete an upstream", {}, prepareRemove},
  };
}

absl::StatusOr<fwd::v1::CreateUpstreamRequest> buildCreateUpstreamRequest(const Invocation& inv) {
  if (!inv.flags.has("base-url")) {
    return usageError("upstream add needs --base-url URL");
  }
  fwd::v1::CreateUpstreamRequest request;
  fwd::v1::Upstream& upstream = *request.mutable_upstream();
  upstream.set_name(inv.args.at(0));
  std::vector<std::string> paths;
  absl::Status status = applyFlags(inv.flags, upstream, paths);
  if (!status.ok()) {
    return status;
  }
  return request;
}

absl::StatusOr<fwd::v1::UpdateUpstreamRequest> buildUpdateUpstreamRequest(const Invocation& inv) {
  fwd::v1::UpdateUpstreamRequest request;
  fwd::v1::Upstream& upstream = *request.mutable_upstream();
  upstream.set_name(inv.args.at(0));
  std::vector<std::string> paths;
  absl::Status status = applyFlags(inv.flags, upstream, paths);
  if (!status.ok()) {
    return status;
  }
  if (paths.empty()) {
    return usageError(
        "nothing to update: pass at least one of --base-url, --api-key, --api-key-env, --model, "
        "--clear-models, --priority, --weight, --timeout, --insecure-skip-verify");
  }
  for (const char* path : kPathOrder) {
    if (std::find(paths.begin(), paths.end(), path) != paths.end()) {
      request.mutable_update_mask()->add_paths(path);
    }
  }
  return request;
}

Json credentialJson(const fwd::v1::Upstream& upstream) {
  if (upstream.credential_case() == fwd::v1::Upstream::kApiKeyEnv) {
    return Json{{"type", "env"}, {"env", upstream.api_key_env()}};
  }
  if (hasStoredKey(upstream)) {
    return Json{{"type", "api_key"}, {"hint", keyHint(upstream)}};
  }
  return Json{{"type", "none"}};
}

std::string credentialCell(const fwd::v1::Upstream& upstream) {
  if (upstream.credential_case() == fwd::v1::Upstream::kApiKeyEnv) {
    return "env:" + upstream.api_key_env();
  }
  if (hasStoredKey(upstream)) {
    return "key " + keyHint(upstream);
  }
  return "-";
}

Json upstreamJson(const fwd::v1::Upstream& upstream) {
  Json models = Json::array();
  for (const std::string& m : upstream.models()) {
    models.push_back(m);
  }
  return Json{
      {"name", upstream.name()},
      {"base_url", upstream.base_url()},
      {"models", std::move(models)},
      {"priority", upstream.priority()},
      {"weight", effectiveWeight(upstream)},
      {"timeout", formatDuration(effectiveTimeout(upstream))},
      {"insecure_skip_verify", upstream.insecure_skip_verify()},
      {"credential", credentialJson(upstream)},
      {"id", upstream.id()},
      {"created", timestampJson(upstream.create_time())},
      {"updated", timestampJson(upstream.update_time())},
      {"health", healthJson(upstream)},
  };
}

std::string upstreamTable(const std::vector<fwd::v1::Upstream>& upstreams) {
  Table table(
      {"NAME", "BASE_URL", "MODELS", "PRIORITY", "WEIGHT", "TIMEOUT", "CREDENTIAL", "HEALTH"});
  for (const fwd::v1::Upstream& u : upstreams) {
    table.addRow({u.name(), u.base_url(), joinedOr(u.models(), "-"), std::to_string(u.priority()),
                  std::to_string(effectiveWeight(u)), formatDuration(effectiveTimeout(u)),
                  credentialCell(u), healthCell(u)});
  }
  return table.render();
}

std::string upstreamDetail(const fwd::v1::Upstream& u) {
  Table table({"name:", u.name()});
  table.addRow({"base_url:", u.base_url()});
  table.addRow({"models:", joinedOr(u.models(), "-")});
  table.addRow({"priority:", std::to_string(u.priority())});
  table.addRow({"weight:", std::to_string(effectiveWeight(u))});
  table.addRow({"timeout:", formatDuration(effectiveTimeout(u))});
  table.addRow({"insecure_skip_verify:", u.insecure_skip_verify() ? "true" : "false"});
  table.addRow({"credential:", credentialCell(u)});
  table.addRow({"id:", std::to_string(u.id())});
  table.addRow({"created:", timestampCell(u.create_time())});
  table.addRow({"updated:", timestampCell(u.update_time())});
  const bool reported = u.health().nodes_reporting() > 0;
  table.addRow({"health:", healthCell(u)});
  table.addRow({"nodes_reporting:", std::to_string(u.health().nodes_reporting())});
  table.addRow({"ejections:", reported ? std::to_string(u.health().ejections()) : "-"});
  return table.render();
}

}  // namespace fwd::cli::commands
