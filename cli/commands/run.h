// fwdctl from argument list to exit code: parse, prepare, resolve the token, call, print, and
// turn every failure into one "fwdctl: <message>" line on stderr plus a documented exit code.
// Everything the process would take from its surroundings is in Environment, for tests.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/client/admin_client.h"
#include "cli/client/token.h"
#include "cli/commands/command.h"

namespace fwd::cli::commands {

inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

using ConnectFn = std::function<client::AdminApiPtr(const client::ClientOptions&)>;

struct Environment {
  // Value of $FWD_ADMIN_TOKEN, if set.
  std::optional<std::string> token_env;
  std::filesystem::path token_file = client::kDefaultTokenFile;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  ConnectFn connect = client::connectAdmin;
};

/// Every command fwdctl knows, in help order.
std::vector<CommandSpec> allCommands();

/// Runs one command line (without the program name) and returns the exit code.
int run(const std::vector<std::string>& args, const Environment& env);

/// kExitUsage, kExitUnreachable or kExitServerError, from the status's ErrorKind.
int exitCodeFor(const absl::Status& status);

/// The stderr line without "fwdctl: ": server errors are prefixed by their code in lowercase
/// words ("already exists: upstream \"x\" already exists").
std::string errorMessage(const absl::Status& status);

/// The general usage text, or the usage of one noun's commands when `noun` names one.
std::string usageText(const std::vector<CommandSpec>& commands, const std::string& noun);

}  // namespace fwd::cli::commands
