#include "cli/commands/key.h"

#include "cli/client/error_kind.h"

namespace fwd::cli::commands {
namespace {

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
      {"key",
       "create",
       "NAME",
       "[--model PATTERN]...",
       "create a client API key",
       {{"model", FlagKind::kRepeated, "PATTERN",
         "model glob the key may use, repeatable (default: every model)"}},
       prepareCreate},
      {"key", "list", "", "", "list keys (never their secrets)", {}, prepareList},
      {"key", "revoke", "NAME", "", "revoke a key", {}, prepareRevoke},
  };
}

Json keyJson(const fwd::v1::Key& key) {
  return Json{
      {"name", key.name()},
      {"display_prefix", key.display_prefix()},
      {"models", modelsJson(key.models())},
      {"created", timestampJson(key.create_time())},
      {"revoked", timestampJson(key.revoke_time())},
  };
}

Json createdKeyJson(const fwd::v1::CreateKeyResponse& response) {
  const fwd::v1::Key& key = response.key();
  return Json{
      {"name", key.name()},
      {"key", response.secret()},
      {"display_prefix", key.display_prefix()},
      {"models", modelsJson(key.models())},
      {"created", timestampJson(key.create_time())},
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

std::string createdKeyText(const fwd::v1::CreateKeyResponse& response) {
  return "key " + quoted(response.key().name()) + " created\n\n    " + response.secret() +
         "\n\nStore this secret now: it will not be shown again.\n"
         "Clients send it as \"Authorization: Bearer <secret>\".\n";
}

}  // namespace fwd::cli::commands
