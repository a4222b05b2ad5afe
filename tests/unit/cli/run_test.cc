// Exit codes and error lines: server errors exit 1 with "<code words>: <message>", an
// unreachable control plane exits 3 (checked with the real gRPC client on a closed port), and
// each verb's confirmation output, driven through a StrictMock AdminApi.
#include "cli/commands/run.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/client/error_kind.h"
#include "tests/unit/cli/cli_test_util.h"
#include "tests/unit/cli/mock_admin_api.h"

namespace fwd::cli::commands {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using testing::MockAdminApi;
using ::testing::Return;
using ::testing::StartsWith;
using ::testing::StrictMock;

// A loopback port that was just free: bound, then closed, so connecting is refused.
int closedLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class CliRunTest : public ::testing::Test {
 protected:
  testing::CliResult run(const std::vector<std::string>& args) {
    std::vector<std::string> with_token = args;
    with_token.push_back("--token=t0k");
    testing::CliSetup setup;
    setup.connect = testing::connectOnce(std::move(mock_owner_));
    return testing::runCli(with_token, setup);
  }

  std::unique_ptr<StrictMock<MockAdminApi>> mock_owner_ =
      std::make_unique<StrictMock<MockAdminApi>>();
  StrictMock<MockAdminApi>& mock_ = *mock_owner_;
};

TEST_F(CliRunTest, ServerErrorsExitOneWithCodeWords) {
  // The server's code in lowercase words prefixes its message, on one stderr line, exit 1.
  EXPECT_CALL(mock_, createUpstream(_))
      .WillOnce(Return(absl::AlreadyExistsError("upstream \"x\" already exists")));
  testing::CliResult result = run({"upstream", "add", "x", "--base-url", "http://h"});
  EXPECT_EQ(result.exit_code, kExitServerError);
  EXPECT_EQ(result.err, "fwdctl: already exists: upstream \"x\" already exists\n");
  EXPECT_EQ(result.out, "");
}

TEST_F(CliRunTest, ErrorMessagesForEveryKind) {
  // Mapping table: server codes keep their message, usage and unreachable are shown as is.
  EXPECT_EQ(errorMessage(absl::NotFoundError("upstream \"y\" not found")),
            "not found: upstream \"y\" not found");
  EXPECT_EQ(errorMessage(absl::FailedPreconditionError("in use")), "failed precondition: in use");
  EXPECT_EQ(errorMessage(absl::UnauthenticatedError("")), "unauthenticated");
  EXPECT_EQ(exitCodeFor(absl::PermissionDeniedError("no")), kExitServerError);
  EXPECT_EQ(exitCodeFor(absl::UnavailableError("store busy")), kExitServerError);
  EXPECT_EQ(exitCodeFor(client::usageError("bad")), kExitUsage);
  EXPECT_EQ(errorMessage(client::usageError("bad flag")), "bad flag");
  absl::Status unreachable = client::unreachableError("127.0.0.1:7070", "refused");
  EXPECT_EQ(exitCodeFor(unreachable), kExitUnreachable);
  EXPECT_EQ(errorMessage(unreachable), "cannot reach the control plane at 127.0.0.1:7070: refused");
  EXPECT_EQ(exitCodeFor(absl::OkStatus()), kExitOk);
}

TEST_F(CliRunTest, MultiLineServerMessagesStayOnOneLine) {
  // A validation error listing several problems still prints as a single line.
  EXPECT_CALL(mock_, getStatus(_)).WillOnce(Return(absl::InvalidArgumentError("a\nb")));
  testing::CliResult result = run({"status"});
  EXPECT_EQ(result.exit_code, kExitServerError);
  EXPECT_EQ(result.err, "fwdctl: invalid argument: a b\n");
}

TEST_F(CliRunTest, MutationsPrintAConfirmationLine) {
  // add/update/remove/revoke confirm in table mode; remove names the new config version.
  fwd::v1::Upstream local;
  local.set_name("local");
  EXPECT_CALL(mock_, deleteUpstream(_)).WillOnce([](const fwd::v1::DeleteUpstreamRequest& r) {
    EXPECT_EQ(r.name(), "local");
    fwd::v1::DeleteUpstreamResponse response;
    response.set_version(12);
    return response;
  });
  testing::CliResult removed = run({"upstream", "remove", "local"});
  EXPECT_EQ(removed.exit_code, kExitOk);
  EXPECT_EQ(removed.out, "upstream \"local\" removed (config version 12)\n");

  mock_owner_ = std::make_unique<StrictMock<MockAdminApi>>();
  EXPECT_CALL(*mock_owner_, updateUpstream(_)).WillOnce(Return(local));
  EXPECT_EQ(run({"upstream", "update", "local", "--weight", "2"}).out,
            "upstream \"local\" updated\n");

  mock_owner_ = std::make_unique<StrictMock<MockAdminApi>>();
  EXPECT_CALL(*mock_owner_, createUpstream(_)).WillOnce(Return(local));
  EXPECT_EQ(run({"upstream", "add", "local", "--base-url", "http://h"}).out,
            "upstream \"local\" created\n");

  mock_owner_ = std::make_unique<StrictMock<MockAdminApi>>();
  fwd::v1::Key key;
  key.set_name("ci");
  EXPECT_CALL(*mock_owner_, revokeKey(_)).WillOnce(Return(key));
  EXPECT_EQ(run({"key", "revoke", "ci"}).out, "key \"ci\" revoked\n");
}

TEST_F(CliRunTest, RemoveJsonNamesUpstreamAndVersion) {
  // -o json of `upstream remove` is {"removed":NAME,"version":N}.
  fwd::v1::DeleteUpstreamResponse response;
  response.set_version(4);
  EXPECT_CALL(mock_, deleteUpstream(_)).WillOnce(Return(response));
  testing::CliResult result = run({"upstream", "remove", "gone", "-o", "json"});
  EXPECT_EQ(result.exit_code, kExitOk);
  EXPECT_EQ(result.out, "{\n  \"removed\": \"gone\",\n  \"version\": 4\n}\n");
}

TEST_F(CliRunTest, UsageErrorsNeverCallTheServer) {
  // StrictMock: a bad --priority is reported before any call is made.
  testing::CliResult result = run({"upstream", "update", "x", "--priority", "high"});
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_EQ(result.err, "fwdctl: invalid value \"high\" for --priority: expected an integer\n");
}

TEST(CliUnreachableTest, ClosedPortExitsThree) {
  // The real gRPC client against a refused loopback port: exit 3, fast, naming the address.
  std::string server = "127.0.0.1:" + std::to_string(closedLoopbackPort());
  testing::CliSetup setup;
  setup.connect = client::connectAdmin;
  auto start = std::chrono::steady_clock::now();
  testing::CliResult result =
      testing::runCli({"upstream", "list", "--token", "t", "--server", server}, setup);
  EXPECT_EQ(result.exit_code, kExitUnreachable);
  EXPECT_THAT(result.err, StartsWith("fwdctl: cannot reach the control plane at " + server + ": "));
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1);
  EXPECT_EQ(result.out, "");
  // wait_for_ready(false): a refused connection fails at once, not at the 10s deadline.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(CliUnreachableTest, SilentListenerExitsThreeAtTheDeadline) {
  // A port that accepts TCP but never speaks HTTP/2 never gets the channel READY: at the
  // deadline that is "unreachable" (3), not a server error.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string server = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  testing::CliSetup setup;
  setup.connect = client::connectAdmin;
  testing::CliResult result = testing::runCli(
      {"--timeout", "300ms", "--token", "t", "--server", server, "key", "list"}, setup);
  ::close(fd);
  EXPECT_EQ(result.exit_code, kExitUnreachable);
  EXPECT_EQ(result.err, "fwdctl: cannot reach the control plane at " + server +
                            ": no connection within 300ms (--timeout)\n");
}

TEST(CliTlsTest, ThePlaintextTokenNeverLeavesLoopbackUnlessInsecure) {
  // Without TLS fwdctl refuses to send the admin token to a non-loopback address (exit 2, no
  // connection attempted); --insecure allows it, and then the address is merely unreachable.
  testing::CliSetup setup;
  setup.connect = client::connectAdmin;
  testing::CliResult refused = testing::runCli(
      {"--timeout", "300ms", "--token", "t", "--server", "192.0.2.1:7070", "status"}, setup);
  EXPECT_EQ(refused.exit_code, kExitUsage);
  EXPECT_THAT(refused.err,
              StartsWith("fwdctl: --server 192.0.2.1:7070: refusing to send a token in plaintext "
                         "to 192.0.2.1:7070, which is not a loopback address"));
  EXPECT_THAT(refused.err, ::testing::HasSubstr("(--ca FILE, or --insecure)"));

  testing::CliResult allowed = testing::runCli(
      {"--timeout", "300ms", "--token", "t", "--server", "192.0.2.1:7070", "--insecure", "status"},
      setup);
  EXPECT_EQ(allowed.exit_code, kExitUnreachable) << allowed.err;

  // A certificate without its key, or an unreadable CA file: exit 2 before any connection.
  testing::CliResult half =
      testing::runCli({"--token", "t", "--cert", "/nonexistent/c.pem", "status"}, setup);
  EXPECT_EQ(half.exit_code, kExitUsage);
  EXPECT_THAT(half.err, ::testing::HasSubstr("give both or neither"));
  testing::CliResult no_ca =
      testing::runCli({"--token", "t", "--ca", "/nonexistent/ca.pem", "status"}, setup);
  EXPECT_EQ(no_ca.exit_code, kExitUsage);
  EXPECT_THAT(no_ca.err, ::testing::HasSubstr("cannot read the CA file /nonexistent/ca.pem"));
}

}  // namespace
}  // namespace fwd::cli::commands
