// `fwdctl key create|list|revoke`: client API keys. The secret appears only in the output of
// `key create`, once; listings show the display prefix.
#pragma once

#include <string>
#include <vector>

#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

std::vector<CommandSpec> keyCommands();

/// {"name","display_prefix","models","created","revoked"}; revoked is null or a time.
Json keyJson(const fwd::v1::Key& key);
/// {"name","key","display_prefix","models","created"}: the one output that holds the secret.
Json createdKeyJson(const fwd::v1::CreateKeyResponse& response);
/// NAME PREFIX MODELS CREATED REVOKED; MODELS "*" when the key may use every model.
std::string keyTable(const std::vector<fwd::v1::Key>& keys);
/// Confirmation, the secret on a line of its own, and a note that it will not be shown again.
std::string createdKeyText(const fwd::v1::CreateKeyResponse& response);

}  // namespace fwd::cli::commands
