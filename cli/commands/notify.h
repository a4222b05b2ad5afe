// `fwdctl notify add|get|list|update|remove|test`: where the control plane sends messages about
// trouble in the fleet (5xx answers, every upstream failing, an upstream ejected, a budget
// spent) — Slack, Feishu, Matrix or any webhook.
#pragma once

#include <string>
#include <vector>

#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

std::vector<CommandSpec> notifyCommands();

/// {"name", "kind", "url" (redacted), "events", "allow_private_address", "has_token",
/// "window", "created", "updated"}.
Json notifierJson(const fwd::v1::Notifier& n);
/// NAME KIND URL EVENTS WINDOW.
std::string notifierTable(const fwd::v1::ListNotifiersResponse& response);

}  // namespace fwd::cli::commands
