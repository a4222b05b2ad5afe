#include "cli/commands/key.h"

#include <tuple>

#include "cli/client/error_kind.h"
#include "cli/commands/key_counts.h"
#include "cli/commands/limits.h"

namespace fwd::cli::commands {
namespace {

// `flags` followed by `more`.
std::vector<FlagSpec> withFlags(std::vector<FlagSpec> flags, std::vector<FlagSpec> more) {
  for (FlagSpec& f : more) {
    flags.push_back(std::move(f));
  }
  return flags;
}

Json modelsJson(const google::protobuf::RepeatedPtrField<std::string>& models) {
  Json out = Json::array();
  for (const std::string& m : models) {
    out.push_back(m);
  }
  return out;
}

absl::StatusOr<Action> prepareCreate(const Invocation& inv) {
  fwd::v1::CreateKeyRequest request;
  request.set_name(inv.args.at(0));
  for (const std::string& model : inv.flags.values("model")) {
    if (model.empty()) {
      return client::usageError("--model is empty");
    }
    request.add_models(model);
  }
  request.set_errors_as_200(inv.flags.boolValue("errors-as-200").value_or(false));
  request.set_log_bodies(inv.flags.boolValue("log-bodies").value_or(false));
  for (const std::string& cidr : inv.flags.values("allow-ip")) {
    request.add_allow_ips(cidr);
  }
  for (const std::string& cidr : inv.flags.values("deny-ip")) {
    request.add_deny_ips(cidr);
  }
  std::vector<std::string> limit_paths;
  if (absl::Status s = applyLimitsFlags(
          inv.flags, [&request]() -> fwd::v1::Limits& { return *request.mutable_limits(); },
          limit_paths);
      !s.ok()) {
    return s;
  }
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->createKey(request);
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, createdKeyJson(*response));
    } else {
      out << createdKeyText(*response);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareList(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->listKeys(fwd::v1::ListKeysRequest());
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      Json keys = Json::array();
      for (const fwd::v1::Key& key : response->keys()) {
        keys.push_back(keyJson(key));
      }
      writeJson(out, Json{{"keys", std::move(keys)}});
    } else {
      out << keyTable({response->keys().begin(), response->keys().end()});
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareGet(const Invocation& inv) {
  fwd::v1::GetKeyRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto key = api->getKey(request);
    if (!key.ok()) {
      return key.status();
    }
    // The counts are the data planes' to tell: a control plane too old to ask them, or none
    // connected, still leaves the key itself to show.
    fwd::v1::GetKeyLimitsRequest counts_request;
    counts_request.set_name(request.name());
    absl::StatusOr<fwd::v1::GetKeyLimitsResponse> counts = api->getKeyLimits(counts_request);
    if (format == OutputFormat::kJson) {
      Json doc = keyJson(*key);
      doc["counts"] = keyCountsJson(counts);
      writeJson(out, doc);
    } else {
      out << keyDetail(*key) << keyCountsText(counts);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareUpdate(const Invocation& inv) {
  fwd::v1::UpdateKeyRequest request;
  request.mutable_key()->set_name(inv.args.at(0));
  bool clear_models = inv.flags.boolValue("clear-models").value_or(false);
  std::vector<std::string> models = inv.flags.values("model");
  if (clear_models && !models.empty()) {
    return client::usageError("--clear-models and --model cannot be used together");
  }
  for (const std::string& model : models) {
    if (model.empty()) {
      return client::usageError("--model is empty");
    }
    request.mutable_key()->add_models(model);
  }
  if (clear_models || !models.empty()) {
    request.mutable_update_mask()->add_paths("models");
  }
  fwd::v1::Key* key = request.mutable_key();
  for (auto [flag, clear, path, list] :
       {std::tuple{"allow-ip", "clear-allow-ip", "allow_ips", key->mutable_allow_ips()},
        {"deny-ip", "clear-deny-ip", "deny_ips", key->mutable_deny_ips()}}) {
    std::vector<std::string> blocks = inv.flags.values(flag);
    bool cleared = inv.flags.boolValue(clear).value_or(false);
    if (cleared && !blocks.empty()) {
      return client::usageError(std::string("--") + clear + " and --" + flag +
                                " cannot be used together");
    }
    list->Add(blocks.begin(), blocks.end());
    if (cleared || !blocks.empty()) {
      request.mutable_update_mask()->add_paths(path);
    }
  }
  if (auto errors_as_200 = inv.flags.boolValue("errors-as-200")) {
    request.mutable_key()->set_errors_as_200(*errors_as_200);
    request.mutable_update_mask()->add_paths("errors_as_200");
  }
  if (auto log_bodies = inv.flags.boolValue("log-bodies")) {
    request.mutable_key()->set_log_bodies(*log_bodies);
    request.mutable_update_mask()->add_paths("log_bodies");
  }
  std::vector<std::string> limit_paths;
  if (absl::Status s = applyLimitsFlags(
          inv.flags, [key]() -> fwd::v1::Limits& { return *key->mutable_limits(); }, limit_paths);
      !s.ok()) {
    return s;
  }
  for (const std::string& path : limit_paths) {
    request.mutable_update_mask()->add_paths(path);
  }
  if (request.update_mask().paths_size() == 0) {
    return client::usageError(
        "nothing to update: give --model, --clear-models, --allow-ip, --deny-ip, "
        "--clear-allow-ip, --clear-deny-ip, --errors-as-200[=false], --log-bodies[=false], a "
        "limit (--rate, "
        "--rate-strategy, --max-parallel, --tpm, --tokens) or its --clear-… flag");
  }
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto key = api->updateKey(request);
    if (!key.ok()) {
      return key.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, keyJson(*key));
    } else {
      out << "key " << quoted(key->name()) << " updated\n";
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareRotate(const Invocation& inv) {
  fwd::v1::RotateKeyRequest request;
  request.set_name(inv.args.at(0));
  auto grace = inv.flags.durationValue("grace");
  if (!grace.ok()) {
    return grace.status();
  }
  if (grace->has_value()) {
    auto ms = (*grace)->count();
    request.mutable_grace()->set_seconds(ms / 1000);
    request.mutable_grace()->set_nanos(static_cast<std::int32_t>(ms % 1000) * 1'000'000);
  }
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->rotateKey(request);
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, createdKeyJson(*response));
    } else {
      out << rotatedKeyText(*response);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareRevoke(const Invocation& inv) {
  fwd::v1::RevokeKeyRequest request;
  request.set_name(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto key = api->revokeKey(request);
    if (!key.ok()) {
      return key.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, keyJson(*key));
    } else {
      out << "key " << quoted(key->name()) << " revoked\n";
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<CommandSpec> keyCommands() {
  return {
      {"key", "create", "NAME",
       "[--model PATTERN]... [--allow-ip CIDR]... [--deny-ip CIDR]... [--errors-as-200] "
       "[--log-bodies] " +
           limitsSynopsis(false),
       "create a client API key",
       withFlags({{"model", FlagKind::kRepeated, "PATTERN",
                   "model glob the key may use, repeatable (default: every model)"},
                  {"allow-ip", FlagKind::kRepeated, "CIDR",
                   "client block the key may be used from, repeatable (default: anywhere)"},
                  {"deny-ip", FlagKind::kRepeated, "CIDR",
                   "client block the key may not be used from, repeatable; beats --allow-ip"},
                  {"errors-as-200", FlagKind::kBool, "",
                   "answer this key's errors with status 200 and the real status in "
                   "x-fwd-status"},
                  {"log-bodies", FlagKind::kBool, "",
                   "the records of this key's requests keep their bodies, cut to the data "
                   "plane's --log-body-max-bytes"}},
                 limitsFlags(false)),
       prepareCreate},
      {"key", "get", "NAME", "", "show one key (never its secret)", {}, prepareGet},
      {"key", "list", "", "", "list keys (never their secrets)", {}, prepareList},
      {"key", "update", "NAME",
       "[--model PATTERN]... [--clear-models] [--allow-ip CIDR]... [--clear-allow-ip] "
       "[--deny-ip CIDR]... [--clear-deny-ip] [--errors-as-200[=false]] "
       "[--log-bodies[=false]] " +
           limitsSynopsis(true),
       "change the given fields of a key",
       withFlags(
           {{"model", FlagKind::kRepeated, "PATTERN",
             "model glob the key may use, repeatable; replaces the key's list"},
            {"clear-models", FlagKind::kBool, "", "let the key use every model"},
            {"allow-ip", FlagKind::kRepeated, "CIDR", "replaces the key's allowed client blocks"},
            {"clear-allow-ip", FlagKind::kBool, "", "the key may be used from anywhere again"},
            {"deny-ip", FlagKind::kRepeated, "CIDR", "replaces the key's denied client blocks"},
            {"clear-deny-ip", FlagKind::kBool, "", "remove the key's denied client blocks"},
            {"errors-as-200", FlagKind::kBool, "",
             "answer this key's errors with status 200 (=false: with their real status)"},
            {"log-bodies", FlagKind::kBool, "",
             "the records of this key's requests keep their bodies (=false: not)"}},
           limitsFlags(true)),
       prepareUpdate},
      {"key",
       "rotate",
       "NAME",
       "[--grace DURATION]",
       "give a key a new secret (printed once)",
       {{"grace", FlagKind::kValue, "DURATION",
         "how long the old secret keeps working, e.g. 10m, at most 720h (default: refused at "
         "once)"}},
       prepareRotate},
      {"key", "revoke", "NAME", "", "revoke a key", {}, prepareRevoke},
  };
}

Json keyJson(const fwd::v1::Key& key) {
  return Json{
      {"name", key.name()},
      {"display_prefix", key.display_prefix()},
      {"models", modelsJson(key.models())},
      {"errors_as_200", key.errors_as_200()},
      {"log_bodies", key.log_bodies()},
      {"allow_ips", modelsJson(key.allow_ips())},
      {"deny_ips", modelsJson(key.deny_ips())},
      {"limits", limitsJson(key.limits())},
      {"created", timestampJson(key.create_time())},
      {"updated", timestampJson(key.update_time())},
      {"revoked", timestampJson(key.revoke_time())},
      {"previous_secret_expires", timestampJson(key.previous_secret_expire_time())},
  };
}

std::string keyDetail(const fwd::v1::Key& key) {
  std::string out;
  auto line = [&out](const std::string& label, const std::string& value) {
    out += label + std::string(label.size() < 16 ? 16 - label.size() : 1, ' ') + value + "\n";
  };
  line("name:", key.name());
  line("prefix:", key.display_prefix());
  line("models:", joinedOr(key.models(), "*"));
  line("errors as 200:", key.errors_as_200() ? "yes" : "no");
  line("log bodies:", key.log_bodies() ? "yes" : "no");
  line("allow ips:", joinedOr(key.allow_ips(), "*"));
  line("deny ips:", joinedOr(key.deny_ips(), "-"));
  line("limits:", limitsCell(key.limits()));
  line("created:", timestampCell(key.create_time()));
  line("updated:", timestampCell(key.update_time()));
  line("revoked:", timestampCell(key.revoke_time()));
  if (key.has_previous_secret_expire_time()) {
    line("old secret until:", timestampCell(key.previous_secret_expire_time()));
  }
  return out;
}

Json createdKeyJson(const fwd::v1::CreateKeyResponse& response) {
  const fwd::v1::Key& key = response.key();
  return Json{
      {"name", key.name()},
      {"key", response.secret()},
      {"display_prefix", key.display_prefix()},
      {"models", modelsJson(key.models())},
      {"created", timestampJson(key.create_time())},
      {"previous_secret_expires", timestampJson(key.previous_secret_expire_time())},
  };
}

std::string keyTable(const std::vector<fwd::v1::Key>& keys) {
  Table table({"NAME", "PREFIX", "MODELS", "CREATED", "REVOKED"});
  for (const fwd::v1::Key& key : keys) {
    table.addRow({key.name(), key.display_prefix(), joinedOr(key.models(), "*"),
                  timestampCell(key.create_time()), timestampCell(key.revoke_time())});
  }
  return table.render();
}

std::string rotatedKeyText(const fwd::v1::CreateKeyResponse& response) {
  const fwd::v1::Key& key = response.key();
  std::string old =
      key.has_previous_secret_expire_time()
          ? "The old secret works until " + timestampCell(key.previous_secret_expire_time()) + ".\n"
          : "The old secret is refused from now on.\n";
  return "key " + quoted(key.name()) + " rotated\n\n    " + response.secret() +
         "\n\nStore this secret now: it will not be shown again.\n" + old;
}

std::string createdKeyText(const fwd::v1::CreateKeyResponse& response) {
  return "key " + quoted(response.key().name()) + " created\n\n    " + response.secret() +
         "\n\nStore this secret now: it will not be shown again.\n"
         "Clients send it as \"Authorization: Bearer <secret>\".\n";
}

}  // namespace fwd::cli::commands
