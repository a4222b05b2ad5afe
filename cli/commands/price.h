// `fwdctl price set|get|list|update|remove`: what each model's tokens cost, in US dollars per
// 1M tokens (the control plane keeps millionths of a dollar). Budgets in dollars count with
// these; a model without a price is counted as unpriced, not as free.
#pragma once

#include <string>
#include <vector>

#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

std::vector<CommandSpec> priceCommands();

/// {"model","input_usd_per_1m","output_usd_per_1m","cached_input_usd_per_1m" (null: as input),
/// "created","updated"}.
Json priceJson(const fwd::v1::Price& price);
/// MODEL INPUT OUTPUT CACHED_INPUT UPDATED, US$ per 1M tokens.
std::string priceTable(const fwd::v1::ListPricesResponse& response);

}  // namespace fwd::cli::commands
