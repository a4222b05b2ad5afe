// An in-process fwd.v1.AdminService on 127.0.0.1:0 that records what fwdctl sent (method,
// request, authorization metadata) and answers with canned responses or a canned error.
#pragma once

#include <grpcpp/server.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "fwd/v1/admin.grpc.pb.h"

namespace fwd::cli::testing {

class FakeAdminService final : public fwd::v1::AdminService::Service {
 public:
  // What the next calls answer. Set before the call; read under mu_.
  struct Responses {
    fwd::v1::Upstream upstream;
    fwd::v1::ListUpstreamsResponse upstreams;
    fwd::v1::DeleteUpstreamResponse deleted;
    fwd::v1::Route route;
    fwd::v1::ListRoutesResponse routes;
    fwd::v1::DeleteRouteResponse deleted_route;
    fwd::v1::CreateKeyResponse created_key;
    fwd::v1::ListKeysResponse keys;
    fwd::v1::Key key;
    fwd::v1::GetStatusResponse status;
    fwd::v1::ListSettingsResponse settings;
    fwd::v1::Setting setting;
    fwd::v1::IpRule ip_rule;
    fwd::v1::ListIpRulesResponse ip_rules;
    fwd::v1::RemoveIpRuleResponse ip_removed;
    // Returned instead of a response when not OK.
    grpc::Status error = grpc::Status::OK;
    // Slept before answering, to exceed a client's deadline.
    std::chrono::milliseconds delay{0};
  };

  void setResponses(Responses responses);

  // What the last call received.
  std::string lastMethod();
  std::string lastAuthorization();
  int calls();
  /// The last request, which must be of type T.
  template <typename T>
  T lastRequest() {
    std::lock_guard<std::mutex> lock(mu_);
    T out;
    if (last_request_ != nullptr) {
      out.CopyFrom(*last_request_);
    }
    return out;
  }

  grpc::Status CreateUpstream(grpc::ServerContext* context,
                              const fwd::v1::CreateUpstreamRequest* request,
                              fwd::v1::Upstream* response) override;
  grpc::Status GetUpstream(grpc::ServerContext* context, const fwd::v1::GetUpstreamRequest* request,
                           fwd::v1::Upstream* response) override;
  grpc::Status ListUpstreams(grpc::ServerContext* context,
                             const fwd::v1::ListUpstreamsRequest* request,
                             fwd::v1::ListUpstreamsResponse* response) override;
  grpc::Status UpdateUpstream(grpc::ServerContext* context,
                              const fwd::v1::UpdateUpstreamRequest* request,
                              fwd::v1::Upstream* response) override;
  grpc::Status DeleteUpstream(grpc::ServerContext* context,
                              const fwd::v1::DeleteUpstreamRequest* request,
                              fwd::v1::DeleteUpstreamResponse* response) override;
  grpc::Status CreateRoute(grpc::ServerContext* context, const fwd::v1::CreateRouteRequest* request,
                           fwd::v1::Route* response) override;
  grpc::Status GetRoute(grpc::ServerContext* context, const fwd::v1::GetRouteRequest* request,
                        fwd::v1::Route* response) override;
  grpc::Status ListRoutes(grpc::ServerContext* context, const fwd::v1::ListRoutesRequest* request,
                          fwd::v1::ListRoutesResponse* response) override;
  grpc::Status UpdateRoute(grpc::ServerContext* context, const fwd::v1::UpdateRouteRequest* request,
                           fwd::v1::Route* response) override;
  grpc::Status DeleteRoute(grpc::ServerContext* context, const fwd::v1::DeleteRouteRequest* request,
                           fwd::v1::DeleteRouteResponse* response) override;
  grpc::Status CreateKey(grpc::ServerContext* context, const fwd::v1::CreateKeyRequest* request,
                         fwd::v1::CreateKeyResponse* response) override;
  grpc::Status ListKeys(grpc::ServerContext* context, const fwd::v1::ListKeysRequest* request,
                        fwd::v1::ListKeysResponse* response) override;
  grpc::Status GetKey(grpc::ServerContext* context, const fwd::v1::GetKeyRequest* request,
                      fwd::v1::Key* response) override;
  grpc::Status UpdateKey(grpc::ServerContext* context, const fwd::v1::UpdateKeyRequest* request,
                         fwd::v1::Key* response) override;
  grpc::Status RotateKey(grpc::ServerContext* context, const fwd::v1::RotateKeyRequest* request,
                         fwd::v1::CreateKeyResponse* response) override;
  grpc::Status AddIpRule(grpc::ServerContext* context, const fwd::v1::AddIpRuleRequest* request,
                         fwd::v1::IpRule* response) override;
  grpc::Status ListIpRules(grpc::ServerContext* context, const fwd::v1::ListIpRulesRequest* request,
                           fwd::v1::ListIpRulesResponse* response) override;
  grpc::Status RemoveIpRule(grpc::ServerContext* context,
                            const fwd::v1::RemoveIpRuleRequest* request,
                            fwd::v1::RemoveIpRuleResponse* response) override;
  grpc::Status ListSettings(grpc::ServerContext* context,
                            const fwd::v1::ListSettingsRequest* request,
                            fwd::v1::ListSettingsResponse* response) override;
  grpc::Status SetSetting(grpc::ServerContext* context, const fwd::v1::SetSettingRequest* request,
                          fwd::v1::Setting* response) override;
  grpc::Status RevokeKey(grpc::ServerContext* context, const fwd::v1::RevokeKeyRequest* request,
                         fwd::v1::Key* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const fwd::v1::GetStatusRequest* request,
                         fwd::v1::GetStatusResponse* response) override;

 private:
  using Pick = const google::protobuf::Message& (*)(const Responses&);

  // Records the call and copies the canned answer picked from responses_ into `response`.
  grpc::Status answer(const char* method, grpc::ServerContext* context,
                      const google::protobuf::Message& request, google::protobuf::Message* response,
                      Pick pick);

  std::mutex mu_;  // guards everything below; gRPC calls handlers on its own threads
  Responses responses_;
  std::string last_method_;
  std::string last_authorization_;
  std::unique_ptr<google::protobuf::Message> last_request_;
  int calls_ = 0;
};

/// The fake, served on 127.0.0.1 at a port the kernel picks; shut down on destruction.
class FakeAdminServer {
 public:
  FakeAdminServer();
  ~FakeAdminServer();

  FakeAdminService& service() { return service_; }
  /// "127.0.0.1:PORT".
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  FakeAdminService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace fwd::cli::testing
