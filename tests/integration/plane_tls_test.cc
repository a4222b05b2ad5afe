// TLS on the gRPC link between the planes: the control plane serves TLS (and with --client-ca
// requires client certificates), data planes and fwdctl verify it against a CA file, and no
// token is sent in plaintext to an address off the host unless that is asked for explicitly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class PlaneTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::access("/usr/bin/openssl", X_OK), 0)
        << "the openssl CLI is needed to make test certificates";
    // A CA; the control plane's certificate for 127.0.0.1 and a data plane's client
    // certificate, both signed by it; and a client certificate nobody trusts.
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
             "/CN=fwd-test-ca", "-keyout", file("ca.key"), "-out", file("ca.pem")});
    signedCert("server", "subjectAltName=IP:127.0.0.1");
    signedCert("client", "extendedKeyUsage=clientAuth");
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
             "/CN=fwd-test-rogue", "-keyout", file("rogue.key"), "-out", file("rogue.pem")});
  }

  std::string file(const std::string& name) { return dir_.file(name); }

  void openssl(const std::vector<std::string>& args) {
    auto r = runCommand("/usr/bin/openssl", args);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  void signedCert(const std::string& name, const std::string& extension) {
    openssl({"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=fwd-test-" + name, "-keyout",
             file(name + ".key"), "-out", file(name + ".csr")});
    std::string ext = file(name + ".ext");
    ASSERT_EQ(runCommand("/bin/sh", {"-c", "echo '" + extension + "' > " + ext}).exit_code, 0);
    openssl({"x509", "-req", "-in", file(name + ".csr"), "-CA", file("ca.pem"), "-CAkey",
             file("ca.key"), "-CAcreateserial", "-days", "1", "-extfile", ext, "-out",
             file(name + ".pem")});
  }

  // fwdctl with exactly these flags after the server address and admin token.
  CommandResult fwdctlWith(std::vector<std::string> args) {
    std::vector<std::string> full = {"--server",  cluster_.controlPlaneAddress(),
                                     "--token",   cluster_.adminToken(),
                                     "--timeout", "2s"};
    full.insert(full.end(), args.begin(), args.end());
    return runCommand(FWDCTL_BIN, full);
  }

  TempDir dir_{"fwd-plane-tls"};
  FwdCluster cluster_;
};

TEST_F(PlaneTlsTest, MutualTlsCarriesConfigAndRefusesClientsWithoutATrustedCertificate) {
  // With --client-ca the control plane serves fwdctl and data planes that present a certificate
  // its CA signed, over TLS they verify; fwdctl and data planes without one, or with one the CA
  // did not sign, or speaking plaintext, get nothing.
  cluster_.setPlaneFlags(
      {{"--tls-cert", file("server.pem"), "--tls-key", file("server.key"), "--client-ca",
        file("ca.pem")},
       {"--control-plane-ca", file("ca.pem"), "--control-plane-cert", file("client.pem"),
        "--control-plane-key", file("client.key")},
       {"--ca", file("ca.pem"), "--cert", file("client.pem"), "--key", file("client.key")}});
  ASSERT_TRUE(cluster_.startControlPlane());
  ASSERT_TRUE(cluster_.startUpstream("up1"));
  ASSERT_TRUE(cluster_.startDataPlane("dp1"));
  auto r = cluster_.fwdctl({"upstream", "add", "local", "--base-url",
                            cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  std::string key = cluster_.createKey("alice");
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(
      cluster_.call("dp1", "POST", "/v1/chat/completions", key, R"({"model":"gpt-4o"})").status,
      200);

  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--ca", file("ca.pem"), "status"},  // no cert
           {"--ca", file("ca.pem"), "--cert", file("rogue.pem"), "--key", file("rogue.key"),
            "status"},  // untrusted
           {"status"},  // plaintext
           {"--ca", file("rogue.pem"), "--cert", file("client.pem"), "--key", file("client.key"),
            "status"}}) {  // wrong CA
    CommandResult refused = fwdctlWith(args);
    EXPECT_EQ(refused.exit_code, 3) << args[0] << " " << refused.stderr_text;
    EXPECT_EQ(refused.stdout_text, "");
  }

  // A data plane without a client certificate never gets a config.
  ASSERT_TRUE(cluster_.startDataPlane("no-cert", {},
                                      {"--control-plane-cert", "", "--control-plane-key", ""}));
  std::this_thread::sleep_for(milliseconds(1500));  // it would have synced in ~100 ms
  auto m = httpRequest(cluster_.dataPlane("no-cert").admin, "GET", "/metrics");
  EXPECT_EQ(metricValue(m.body, "fwd_control_plane_connected"), 0);
  EXPECT_EQ(httpRequest(cluster_.dataPlane("no-cert").admin, "GET", "/readyz").status, 503);
  auto status = cluster_.fwdctlJson({"status"});
  ASSERT_EQ(status["dataplanes"].size(), 1u) << status.dump();
}

TEST_F(PlaneTlsTest, ServerOnlyTlsIsVerifiedAgainstTheCaFile) {
  // Without --client-ca any client that trusts the control plane's CA gets through; one that
  // trusts another CA does not (no silent fallback to an unverified connection).
  cluster_.setPlaneFlags({{"--tls-cert", file("server.pem"), "--tls-key", file("server.key")},
                          {"--control-plane-ca", file("ca.pem")},
                          {"--ca", file("ca.pem")}});
  ASSERT_TRUE(cluster_.startControlPlane());
  ASSERT_TRUE(cluster_.startDataPlane("dp1"));
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(fwdctlWith({"--ca", file("ca.pem"), "status"}).exit_code, 0);
  EXPECT_EQ(fwdctlWith({"--ca", file("rogue.pem"), "status"}).exit_code, 3);
  EXPECT_EQ(fwdctlWith({"--tls", "status"}).exit_code, 3);  // the system store knows no test CA
}

TEST(PlaneTlsFlagsTest, NoTokenGoesInPlaintextToAnotherHostUnlessAllowed) {
  // A data plane pointed at a non-loopback control plane without TLS refuses to start (exit 2,
  // saying what to do); with --control-plane-insecure it starts and keeps trying.
  TempDir dir("fwd-plane-flags");
  ASSERT_EQ(runCommand("/bin/sh", {"-c", "echo fwd-node-x > " + dir.file("node.token")}).exit_code,
            0);
  std::vector<std::string> args = {"--control-plane",      "192.0.2.1:7070", "--node-token-file",
                                   dir.file("node.token"), "--listen",       "127.0.0.1:0",
                                   "--admin-listen",       "127.0.0.1:0",    "--state-dir",
                                   dir.file("state")};
  CommandResult refused = runCommand(FWD_DATAPLANE_BIN, args, {}, seconds(10));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.stderr_text.find("refusing to send a token in plaintext to 192.0.2.1:7070"),
            std::string::npos)
      << refused.stderr_text;
  EXPECT_NE(refused.stderr_text.find("--control-plane-insecure"), std::string::npos);

  args.push_back("--control-plane-insecure");
  ChildProcess allowed;
  ASSERT_TRUE(allowed.start(FWD_DATAPLANE_BIN, args));
  EXPECT_TRUE(allowed.waitForListening("http", seconds(10)).has_value()) << allowed.stderrText();

  // The control plane's own flags: a key without its certificate is a usage error.
  CommandResult half =
      runCommand(FWD_CONTROLPLANE_BIN, {"--listen", "127.0.0.1:0", "--data-dir", dir.file("cp"),
                                        "--tls-key", dir.file("node.token")});
  EXPECT_EQ(half.exit_code, 2) << half.stderr_text;
}

}  // namespace
}  // namespace fwd::harness
