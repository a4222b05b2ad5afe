// fwd.v1.AdminService: the admin API fwdctl talks to. Authenticates every call with the admin
// token, rejects requests carrying unknown fields, validates, writes through the store, and
// publishes a new snapshot after every committed write. Responses never carry a stored api_key
// or a key's secret_sha256.
#pragma once

#include "controlplane/records/record_store.h"
#include "controlplane/service/auth.h"
#include "controlplane/service/limits_queries.h"
#include "controlplane/service/node_registry.h"
#include "controlplane/snapshot/publisher.h"
#include "controlplane/store/store.h"
#include "fwd/v1/admin.grpc.pb.h"

namespace fwd::controlplane::service {

/// Makes a stored upstream fit for the admin API: api_key removed, api_key_hint set instead.
void redactUpstream(fwd::v1::Upstream& upstream);

/// gRPC handlers run on gRPC's sync-server threads, concurrently; everything used is
/// thread-safe.
class AdminServiceImpl final : public fwd::v1::AdminService::Service {
 public:
  /// Every reference must outlive the service.
  AdminServiceImpl(store::Store& store, snapshot::Publisher& publisher,
                   const NodeRegistry& registry, LimitsQueries& queries,
                   const TokenAuthenticator& auth, records::RecordsDb* records = nullptr)
      : store_(store),
        publisher_(publisher),
        registry_(registry),
        queries_(queries),
        auth_(auth),
        records_(records) {}

  /// How long GetKeyLimits waits for the data planes' answers.
  static constexpr std::chrono::milliseconds kLimitsQueryTimeout{1500};

  // fwd::v1::AdminService::Service
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
  grpc::Status GetKey(grpc::ServerContext* context, const fwd::v1::GetKeyRequest* request,
                      fwd::v1::Key* response) override;
  grpc::Status GetKeyLimits(grpc::ServerContext* context,
                            const fwd::v1::GetKeyLimitsRequest* request,
                            fwd::v1::GetKeyLimitsResponse* response) override;
  grpc::Status GetUsage(grpc::ServerContext* context, const fwd::v1::GetUsageRequest* request,
                        fwd::v1::GetUsageResponse* response) override;
  grpc::Status ListRecords(grpc::ServerContext* context, const fwd::v1::ListRecordsRequest* request,
                           fwd::v1::ListRecordsResponse* response) override;
  // Notifiers: notify_admin.cc.
  grpc::Status CreateNotifier(grpc::ServerContext* context,
                              const fwd::v1::CreateNotifierRequest* request,
                              fwd::v1::Notifier* response) override;
  grpc::Status GetNotifier(grpc::ServerContext* context, const fwd::v1::GetNotifierRequest* request,
                           fwd::v1::Notifier* response) override;
  grpc::Status ListNotifiers(grpc::ServerContext* context,
                             const fwd::v1::ListNotifiersRequest* request,
                             fwd::v1::ListNotifiersResponse* response) override;
  grpc::Status UpdateNotifier(grpc::ServerContext* context,
                              const fwd::v1::UpdateNotifierRequest* request,
                              fwd::v1::Notifier* response) override;
  grpc::Status DeleteNotifier(grpc::ServerContext* context,
                              const fwd::v1::DeleteNotifierRequest* request,
                              fwd::v1::DeleteNotifierResponse* response) override;
  grpc::Status TestNotifier(grpc::ServerContext* context,
                            const fwd::v1::TestNotifierRequest* request,
                            fwd::v1::TestNotifierResponse* response) override;
  grpc::Status ListKeys(grpc::ServerContext* context, const fwd::v1::ListKeysRequest* request,
                        fwd::v1::ListKeysResponse* response) override;
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
  grpc::Status SetPrice(grpc::ServerContext* context, const fwd::v1::SetPriceRequest* request,
                        fwd::v1::SetPriceResponse* response) override;
  grpc::Status GetPrice(grpc::ServerContext* context, const fwd::v1::GetPriceRequest* request,
                        fwd::v1::Price* response) override;
  grpc::Status ListPrices(grpc::ServerContext* context, const fwd::v1::ListPricesRequest* request,
                          fwd::v1::ListPricesResponse* response) override;
  grpc::Status DeletePrice(grpc::ServerContext* context, const fwd::v1::DeletePriceRequest* request,
                           fwd::v1::DeletePriceResponse* response) override;
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
  /// Authentication, then the unknown-field check.
  grpc::Status admit(const grpc::ServerContext& context,
                     const google::protobuf::Message& request) const;
  /// After a committed write: offer the new state to watchers. A failure is logged, not
  /// returned: the write itself succeeded, and the next write publishes again.
  void publish(const char* what);

  store::Store& store_;
  snapshot::Publisher& publisher_;
  const NodeRegistry& registry_;
  LimitsQueries& queries_;
  const TokenAuthenticator& auth_;
  records::RecordsDb* records_;  // null: no records kept
};

}  // namespace fwd::controlplane::service
