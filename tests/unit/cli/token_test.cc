// Admin token resolution: --token beats $FWD_ADMIN_TOKEN beats ./fwd-data/admin.token, values are
// trimmed, and each failure says what to do. Uses a temp file instead of chdir.
#include "cli/client/token.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "cli/client/error_kind.h"
#include "cli/commands/run.h"
#include "tests/unit/cli/cli_test_util.h"
#include "tests/unit/cli/mock_admin_api.h"

namespace fwd::cli::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Return;

class CliTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fwdctl-token-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "fwd-data");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path writeTokenFile(const std::string& content) {
    std::filesystem::path path = dir_ / "fwd-data" / "admin.token";
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(CliTokenTest, FlagBeatsEnvBeatsFile) {
  // With all three sources present, the order is --token, then the env var, then the file.
  std::filesystem::path file = writeTokenFile("from-file\n");
  EXPECT_EQ(*resolveToken({"from-flag", "from-env", file}), "from-flag");
  EXPECT_EQ(*resolveToken({std::nullopt, "from-env", file}), "from-env");
  EXPECT_EQ(*resolveToken({std::nullopt, std::nullopt, file}), "from-file");
}

TEST_F(CliTokenTest, ValuesAreTrimmedAndEmptyEnvFallsThrough) {
  // The file the control plane writes ends in a newline; an empty env var is as good as unset.
  std::filesystem::path file = writeTokenFile("  \tadm-123\r\n\n");
  EXPECT_EQ(*resolveToken({std::nullopt, std::nullopt, file}), "adm-123");
  EXPECT_EQ(*resolveToken({std::nullopt, "", file}), "adm-123");
  EXPECT_EQ(*resolveToken({std::nullopt, " env-tok \n", file}), "env-tok");
}

TEST_F(CliTokenTest, MissingEverywhereSaysWhatToDo) {
  // No source at all is a usage error with the documented hint.
  auto token = resolveToken({std::nullopt, std::nullopt, dir_ / "absent" / "admin.token"});
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(errorKind(token.status()), ErrorKind::kUsage);
  EXPECT_EQ(token.status().message(),
            "no admin token: pass --token, set FWD_ADMIN_TOKEN, or run from the directory "
            "holding fwd-data/admin.token");
}

TEST_F(CliTokenTest, EmptyFileAndEmptyFlagAreErrors) {
  // An empty token would only earn an UNAUTHENTICATED later; say so now.
  std::filesystem::path file = writeTokenFile(" \n");
  auto from_file = resolveToken({std::nullopt, std::nullopt, file});
  ASSERT_FALSE(from_file.ok());
  EXPECT_THAT(std::string(from_file.status().message()), HasSubstr("is empty"));
  auto from_flag = resolveToken({"", "env", file});
  ASSERT_FALSE(from_flag.ok());
  EXPECT_EQ(from_flag.status().message(), "--token is empty");
}

TEST_F(CliTokenTest, RunSendsTheResolvedTokenAndOptions) {
  // run() resolves the token from the file and passes server, token and deadline to connect.
  std::filesystem::path file = writeTokenFile("file-token\n");
  auto mock = std::make_unique<::testing::StrictMock<testing::MockAdminApi>>();
  EXPECT_CALL(*mock, getStatus).WillOnce(Return(fwd::v1::GetStatusResponse()));
  auto seen = std::make_shared<ClientOptions>();
  testing::CliSetup setup;
  setup.connect = testing::connectOnce(std::move(mock), seen);
  setup.token_file = file;
  testing::CliResult result =
      testing::runCli({"status", "--server", "localhost:7071", "--timeout", "750ms"}, setup);
  EXPECT_EQ(result.exit_code, commands::kExitOk) << result.err;
  EXPECT_EQ(seen->token, "file-token");
  EXPECT_EQ(seen->server, "localhost:7071");
  EXPECT_EQ(seen->timeout, std::chrono::milliseconds(750));
}

TEST_F(CliTokenTest, RunWithoutTokenExitsTwoBeforeConnecting) {
  // No token: exit 2 and the hint, and no connection attempt.
  testing::CliSetup setup;
  setup.token_file = dir_ / "absent";
  testing::CliResult result = testing::runCli({"upstream", "list"}, setup);
  EXPECT_EQ(result.exit_code, commands::kExitUsage);
  EXPECT_EQ(result.err,
            "fwdctl: no admin token: pass --token, set FWD_ADMIN_TOKEN, or run from the "
            "directory holding fwd-data/admin.token\n");
}

}  // namespace
}  // namespace fwd::cli::client
