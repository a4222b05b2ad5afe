// Helpers to run a whole fwdctl command line in-process and capture what it printed.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/client/admin_client.h"
#include "cli/commands/run.h"

namespace fwd::cli::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

struct CliSetup {
  // Defaults to a connect function that fails the test if it is called.
  commands::ConnectFn connect;
  std::optional<std::string> token_env;
  // Defaults to a path that does not exist.
  std::filesystem::path token_file = "/nonexistent/fwd-data/admin.token";
};

CliResult runCli(const std::vector<std::string>& args, const CliSetup& setup = {});

/// A command line and the usage error it must end with ("fwdctl: " + message, exit 2).
using UsageCase = std::pair<std::vector<std::string>, std::string>;
void expectUsageErrors(const std::vector<UsageCase>& cases);

/// `base` followed by `more`: a command line with some flags added.
std::vector<std::string> with(std::vector<std::string> base, const std::vector<std::string>& more);

/// A ConnectFn that hands out `api` once and records the options it was called with.
commands::ConnectFn connectOnce(std::unique_ptr<client::AdminApi> api,
                                std::shared_ptr<client::ClientOptions> seen_options = nullptr);

}  // namespace fwd::cli::testing
