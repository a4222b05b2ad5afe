#include "common/net/grpc_tls.h"

#include <fstream>
#include <iterator>

#include "common/net/host_port.h"

namespace fwd::common::net {
namespace {

absl::StatusOr<std::string> readPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(std::string("cannot read the ") + what + " file " + path);
  }
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(std::string("the ") + what + " file " + path +
                                      " holds no PEM block");
  }
  return pem;
}

}  // namespace

bool isLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channelCredentials(
    const ClientTls& tls, const std::string& address) {
  if (!tls.enabled()) {
    auto hp = parseHostPort(address);
    if (!hp.ok()) {
      return hp.status();
    }
    if (!tls.allow_plaintext && !isLoopbackHost(hp->host)) {
      return absl::FailedPreconditionError(
          "refusing to send a token in plaintext to " + address +
          ", which is not a loopback address: use TLS (a CA file for the control plane's "
          "certificate) or allow plaintext explicitly (insecure)");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key and a key its certificate: give both or neither");
  }
  grpc::SslCredentialsOptions options;
  if (!tls.ca_file.empty()) {
    auto ca = readPem(tls.ca_file, "CA");
    if (!ca.ok()) {
      return ca.status();
    }
    options.pem_root_certs = *ca;
  }
  if (!tls.cert_file.empty()) {
    auto cert = readPem(tls.cert_file, "certificate");
    auto key = readPem(tls.key_file, "key");
    if (!cert.ok() || !key.ok()) {
      return !cert.ok() ? cert.status() : key.status();
    }
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  return grpc::SslCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> serverCredentials(const ServerTls& tls) {
  if (!tls.enabled()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError("a client CA needs the listener's own certificate and key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and its key");
  }
  auto cert = readPem(tls.cert_file, "certificate");
  auto key = readPem(tls.key_file, "key");
  if (!cert.ok() || !key.ok()) {
    return !cert.ok() ? cert.status() : key.status();
  }
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.client_ca_file.empty()) {
    auto ca = readPem(tls.client_ca_file, "client CA");
    if (!ca.ok()) {
      return ca.status();
    }
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace fwd::common::net
