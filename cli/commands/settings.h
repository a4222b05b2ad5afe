// `fwdctl settings list|set`: the settings that apply to every request (errors_as_200, ...).
#pragma once

#include <vector>

#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

std::vector<CommandSpec> settingsCommands();

/// {"name","value","default","description"}.
Json settingJson(const fwd::v1::Setting& setting);
/// NAME VALUE DEFAULT DESCRIPTION.
std::string settingsTable(const fwd::v1::ListSettingsResponse& response);

}  // namespace fwd::cli::commands
