#include "tests/unit/cli/cli_test_util.h"

#include <gtest/gtest.h>

#include <sstream>

namespace fwd::cli::testing {

CliResult runCli(const std::vector<std::string>& args, const CliSetup& setup) {
  std::ostringstream out;
  std::ostringstream err;
  commands::Environment env;
  env.out = &out;
  env.err = &err;
  env.token_env = setup.token_env;
  env.token_file = setup.token_file;
  if (setup.connect) {
    env.connect = setup.connect;
  } else {
    env.connect = [](const client::ClientOptions&) -> client::AdminApiPtr {
      ADD_FAILURE() << "the command connected to a server although it should not have";
      return client::connectAdmin({"127.0.0.1:1", "x", std::chrono::milliseconds(1), nullptr});
    };
  }
  CliResult result;
  result.exit_code = commands::run(args, env);
  result.out = out.str();
  result.err = err.str();
  return result;
}

commands::ConnectFn connectOnce(std::unique_ptr<client::AdminApi> api,
                                std::shared_ptr<client::ClientOptions> seen_options) {
  auto holder = std::make_shared<std::unique_ptr<client::AdminApi>>(std::move(api));
  return [holder, seen_options](const client::ClientOptions& options) {
    if (seen_options != nullptr) {
      *seen_options = options;
    }
    EXPECT_NE(*holder, nullptr) << "connected twice";
    return std::move(*holder);
  };
}

void expectUsageErrors(const std::vector<UsageCase>& cases) {
  for (const auto& [args, message] : cases) {
    CliResult result = runCli(args);
    EXPECT_EQ(result.exit_code, commands::kExitUsage) << message;
    EXPECT_EQ(result.err, "fwdctl: " + message + "\n");
  }
}

std::vector<std::string> with(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

}  // namespace fwd::cli::testing
