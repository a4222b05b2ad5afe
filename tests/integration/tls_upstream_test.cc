// HTTPS upstreams: certificates are verified (chain and host name) unless the upstream was
// added with --insecure-skip-verify.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

class TlsUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/openssl", X_OK) != 0) {
      GTEST_FAIL() << "the openssl CLI is needed to make test certificates "
                      "(deploy/install-deps.sh installs it)";
    }
    makeCert("good", "IP:127.0.0.1");
    makeCert("wrong-name", "DNS:api.example.com");
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream(
        "good", {"--tls-cert", dir_.file("good.pem"), "--tls-key", dir_.file("good.key")}));
    ASSERT_TRUE(cluster_.startUpstream("wrong-name", {"--tls-cert", dir_.file("wrong-name.pem"),
                                                      "--tls-key", dir_.file("wrong-name.key")}));
    // The data plane trusts exactly these two self-signed certificates (OpenSSL reads
    // SSL_CERT_FILE for its default verify paths).
    std::string bundle = dir_.file("bundle.pem");
    ASSERT_EQ(runCommand("/bin/sh", {"-c", "cat " + dir_.file("good.pem") + " " +
                                               dir_.file("wrong-name.pem") + " > " + bundle})
                  .exit_code,
              0);
    ASSERT_TRUE(cluster_.startDataPlane("dp1", {{"SSL_CERT_FILE", bundle}}));
    key_ = cluster_.createKey("k");
  }

  void makeCert(const std::string& name, const std::string& san) {
    auto r = runCommand("/usr/bin/openssl",
                        {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                         "/CN=fwd-test-" + name, "-addext", "subjectAltName=" + san, "-keyout",
                         dir_.file(name + ".key"), "-out", dir_.file(name + ".pem")});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  void add(const std::string& name, const std::string& url, const std::string& model,
           bool insecure) {
    std::vector<std::string> args = {"upstream", "add", name, "--base-url", url, "--model", model};
    if (insecure) {
      args.push_back("--insecure-skip-verify");
    }
    auto r = cluster_.fwdctl(args);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  Response chat(const std::string& model) {
    return cluster_.call("dp1", "POST", "/v1/chat/completions", key_,
                         R"({"model":")" + model + R"("})");
  }

  TempDir dir_{"fwd-tls"};
  FwdCluster cluster_;
  std::string key_;
};

TEST_F(TlsUpstreamTest, AVerifiedCertificateIsAccepted) {
  // Trusted chain and matching IP SAN: the request goes through over TLS.
  add("secure", cluster_.upstream("good").baseUrl(), "good-*", false);
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("good-1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-upstream"), "good");
}

TEST_F(TlsUpstreamTest, AHostNameMismatchIsRefused) {
  // The certificate is trusted but names another host: the handshake fails, 502.
  add("mismatch", cluster_.upstream("wrong-name").baseUrl(), "bad-*", false);
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("bad-1");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("TLS handshake"), std::string::npos) << r.body;
}

TEST_F(TlsUpstreamTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  // The same mismatching certificate is accepted when the operator opted out of verification.
  add("lenient", cluster_.upstream("wrong-name").baseUrl(), "bad-*", true);
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("bad-1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-upstream"), "wrong-name");
}

}  // namespace
}  // namespace fwd::harness
