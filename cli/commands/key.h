// `fwdctl key create|get|list|update|rotate|revoke`: client API keys. A secret appears only in
// the output of `key create` and `key rotate`, once; everything else shows the display prefix.
#pragma once

#include <string>
#include <vector>

#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

std::vector<CommandSpec> keyCommands();

/// {"name","display_prefix","models","created","updated","revoked","previous_secret_expires"};
/// the last three are null or a time.
Json keyJson(const fwd::v1::Key& key);
/// {"name","key","display_prefix","models","created","previous_secret_expires"}: the one output
/// that holds the secret (of `key create` and `key rotate`).
Json createdKeyJson(const fwd::v1::CreateKeyResponse& response);
/// NAME PREFIX MODELS CREATED REVOKED; MODELS "*" when the key may use every model.
std::string keyTable(const std::vector<fwd::v1::Key>& keys);
/// Confirmation, the secret on a line of its own, and a note that it will not be shown again.
std::string createdKeyText(const fwd::v1::CreateKeyResponse& response);
/// The same after a rotation, saying until when the old secret works.
std::string rotatedKeyText(const fwd::v1::CreateKeyResponse& response);
/// `key get`: one "label: value" line per field.
std::string keyDetail(const fwd::v1::Key& key);

}  // namespace fwd::cli::commands
