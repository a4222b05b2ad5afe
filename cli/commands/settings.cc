#include "cli/commands/settings.h"

namespace fwd::cli::commands {
namespace {

absl::StatusOr<Action> prepareList(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->listSettings(fwd::v1::ListSettingsRequest());
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      Json settings = Json::array();
      for (const fwd::v1::Setting& s : response->settings()) {
        settings.push_back(settingJson(s));
      }
      writeJson(out, Json{{"settings", std::move(settings)}});
    } else {
      out << settingsTable(*response);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareSet(const Invocation& inv) {
  fwd::v1::SetSettingRequest request;
  request.set_name(inv.args.at(0));
  request.set_value(inv.args.at(1));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto setting = api->setSetting(request);
    if (!setting.ok()) {
      return setting.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, settingJson(*setting));
    } else {
      out << "setting " << setting->name() << " = " << setting->value() << "\n";
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<CommandSpec> settingsCommands() {
  return {
      {"settings", "list", "", "", "show every setting and its value", {}, prepareList},
      {"settings", "set", "NAME VALUE", "", "change a setting (see settings list)", {}, prepareSet},
  };
}

Json settingJson(const fwd::v1::Setting& setting) {
  return Json{{"name", setting.name()},
              {"value", setting.value()},
              {"default", setting.default_value()},
              {"description", setting.description()}};
}

std::string settingsTable(const fwd::v1::ListSettingsResponse& response) {
  Table table({"NAME", "VALUE", "DEFAULT", "DESCRIPTION"});
  for (const fwd::v1::Setting& s : response.settings()) {
    table.addRow({s.name(), s.value(), s.default_value(), s.description()});
  }
  return table.render();
}

}  // namespace fwd::cli::commands
