#include "tests/unit/cli/fake_admin_service.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <thread>

namespace fwd::cli::testing {

void FakeAdminService::setResponses(Responses responses) {
  std::lock_guard<std::mutex> lock(mu_);
  responses_ = std::move(responses);
}

std::string FakeAdminService::lastMethod() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_method_;
}

std::string FakeAdminService::lastAuthorization() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_authorization_;
}

int FakeAdminService::calls() {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

grpc::Status FakeAdminService::answer(const char* method, grpc::ServerContext* context,
                                      const google::protobuf::Message& request,
                                      google::protobuf::Message* response, Pick pick) {
  std::chrono::milliseconds delay;
  grpc::Status error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    last_method_ = method;
    auto auth = context->client_metadata().find("authorization");
    last_authorization_ = auth == context->client_metadata().end()
                              ? ""
                              : std::string(auth->second.data(), auth->second.size());
    last_request_.reset(request.New());
    last_request_->CopyFrom(request);
    response->CopyFrom(pick(responses_));
    delay = responses_.delay;
    error = responses_.error;
  }
  if (delay.count() > 0) {
    std::this_thread::sleep_for(delay);
  }
  return error;
}

grpc::Status FakeAdminService::CreateUpstream(grpc::ServerContext* context,
                                              const fwd::v1::CreateUpstreamRequest* request,
                                              fwd::v1::Upstream* response) {
  return answer("CreateUpstream", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.upstream; });
}

grpc::Status FakeAdminService::GetUpstream(grpc::ServerContext* context,
                                           const fwd::v1::GetUpstreamRequest* request,
                                           fwd::v1::Upstream* response) {
  return answer("GetUpstream", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.upstream; });
}

grpc::Status FakeAdminService::ListUpstreams(grpc::ServerContext* context,
                                             const fwd::v1::ListUpstreamsRequest* request,
                                             fwd::v1::ListUpstreamsResponse* response) {
  return answer("ListUpstreams", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.upstreams; });
}

grpc::Status FakeAdminService::UpdateUpstream(grpc::ServerContext* context,
                                              const fwd::v1::UpdateUpstreamRequest* request,
                                              fwd::v1::Upstream* response) {
  return answer("UpdateUpstream", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.upstream; });
}

grpc::Status FakeAdminService::DeleteUpstream(grpc::ServerContext* context,
                                              const fwd::v1::DeleteUpstreamRequest* request,
                                              fwd::v1::DeleteUpstreamResponse* response) {
  return answer("DeleteUpstream", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.deleted; });
}

grpc::Status FakeAdminService::CreateRoute(grpc::ServerContext* context,
                                           const fwd::v1::CreateRouteRequest* request,
                                           fwd::v1::Route* response) {
  return answer("CreateRoute", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.route; });
}

grpc::Status FakeAdminService::GetRoute(grpc::ServerContext* context,
                                        const fwd::v1::GetRouteRequest* request,
                                        fwd::v1::Route* response) {
  return answer("GetRoute", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.route; });
}

grpc::Status FakeAdminService::ListRoutes(grpc::ServerContext* context,
                                          const fwd::v1::ListRoutesRequest* request,
                                          fwd::v1::ListRoutesResponse* response) {
  return answer("ListRoutes", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.routes; });
}

grpc::Status FakeAdminService::UpdateRoute(grpc::ServerContext* context,
                                           const fwd::v1::UpdateRouteRequest* request,
                                           fwd::v1::Route* response) {
  return answer("UpdateRoute", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.route; });
}

grpc::Status FakeAdminService::DeleteRoute(grpc::ServerContext* context,
                                           const fwd::v1::DeleteRouteRequest* request,
                                           fwd::v1::DeleteRouteResponse* response) {
  return answer(
      "DeleteRoute", context, *request, response,
      [](const Responses& r) -> const google::protobuf::Message& { return r.deleted_route; });
}

grpc::Status FakeAdminService::CreateKey(grpc::ServerContext* context,
                                         const fwd::v1::CreateKeyRequest* request,
                                         fwd::v1::CreateKeyResponse* response) {
  return answer(
      "CreateKey", context, *request, response,
      [](const Responses& r) -> const google::protobuf::Message& { return r.created_key; });
}

grpc::Status FakeAdminService::ListKeys(grpc::ServerContext* context,
                                        const fwd::v1::ListKeysRequest* request,
                                        fwd::v1::ListKeysResponse* response) {
  return answer("ListKeys", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.keys; });
}

grpc::Status FakeAdminService::GetKey(grpc::ServerContext* context,
                                      const fwd::v1::GetKeyRequest* request,
                                      fwd::v1::Key* response) {
  return answer("GetKey", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.key; });
}

grpc::Status FakeAdminService::UpdateKey(grpc::ServerContext* context,
                                         const fwd::v1::UpdateKeyRequest* request,
                                         fwd::v1::Key* response) {
  return answer("UpdateKey", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.key; });
}

grpc::Status FakeAdminService::RotateKey(grpc::ServerContext* context,
                                         const fwd::v1::RotateKeyRequest* request,
                                         fwd::v1::CreateKeyResponse* response) {
  return answer(
      "RotateKey", context, *request, response,
      [](const Responses& r) -> const google::protobuf::Message& { return r.created_key; });
}

grpc::Status FakeAdminService::AddIpRule(grpc::ServerContext* context,
                                         const fwd::v1::AddIpRuleRequest* request,
                                         fwd::v1::IpRule* response) {
  return answer("AddIpRule", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.ip_rule; });
}

grpc::Status FakeAdminService::ListIpRules(grpc::ServerContext* context,
                                           const fwd::v1::ListIpRulesRequest* request,
                                           fwd::v1::ListIpRulesResponse* response) {
  return answer("ListIpRules", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.ip_rules; });
}

grpc::Status FakeAdminService::RemoveIpRule(grpc::ServerContext* context,
                                            const fwd::v1::RemoveIpRuleRequest* request,
                                            fwd::v1::RemoveIpRuleResponse* response) {
  return answer(
      "RemoveIpRule", context, *request, response,
      [](const Responses& r) -> const google::protobuf::Message& { return r.ip_removed; });
}

grpc::Status FakeAdminService::ListSettings(grpc::ServerContext* context,
                                            const fwd::v1::ListSettingsRequest* request,
                                            fwd::v1::ListSettingsResponse* response) {
  return answer("ListSettings", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.settings; });
}

grpc::Status FakeAdminService::SetSetting(grpc::ServerContext* context,
                                          const fwd::v1::SetSettingRequest* request,
                                          fwd::v1::Setting* response) {
  return answer("SetSetting", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.setting; });
}

grpc::Status FakeAdminService::RevokeKey(grpc::ServerContext* context,
                                         const fwd::v1::RevokeKeyRequest* request,
                                         fwd::v1::Key* response) {
  return answer("RevokeKey", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.key; });
}

grpc::Status FakeAdminService::GetStatus(grpc::ServerContext* context,
                                         const fwd::v1::GetStatusRequest* request,
                                         fwd::v1::GetStatusResponse* response) {
  return answer("GetStatus", context, *request, response,
                [](const Responses& r) -> const google::protobuf::Message& { return r.status; });
}

FakeAdminServer::FakeAdminServer() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
}

FakeAdminServer::~FakeAdminServer() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
}

}  // namespace fwd::cli::testing
