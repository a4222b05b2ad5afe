// AdminApi over gRPC: one channel to the control plane (TLS or plaintext), the admin token as
// "authorization: Bearer <token>" metadata, a deadline on every call, and no waiting for a
// connection that is not there (wait_for_ready false), so an absent server fails fast.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <memory>
#include <string>

#include "cli/client/admin_api.h"
#include "fwd/v1/admin.grpc.pb.h"

namespace fwd::cli::client {

inline constexpr std::chrono::milliseconds kDefaultCallTimeout{10'000};

struct ClientOptions {
  // "host:port" of the control plane's gRPC listener.
  std::string server = "127.0.0.1:7070";
  std::string token;
  // Deadline of each call, connection included.
  std::chrono::milliseconds timeout = kDefaultCallTimeout;
  // TLS or plaintext (common::net::channelCredentials); null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

class AdminClient : public AdminApi {
 public:
  explicit AdminClient(ClientOptions options);

  // fwd::cli::client::AdminApi
  absl::StatusOr<fwd::v1::Upstream> createUpstream(
      const fwd::v1::CreateUpstreamRequest& request) override;
  absl::StatusOr<fwd::v1::Upstream> getUpstream(
      const fwd::v1::GetUpstreamRequest& request) override;
  absl::StatusOr<fwd::v1::ListUpstreamsResponse> listUpstreams(
      const fwd::v1::ListUpstreamsRequest& request) override;
  absl::StatusOr<fwd::v1::Upstream> updateUpstream(
      const fwd::v1::UpdateUpstreamRequest& request) override;
  absl::StatusOr<fwd::v1::DeleteUpstreamResponse> deleteUpstream(
      const fwd::v1::DeleteUpstreamRequest& request) override;
  absl::StatusOr<fwd::v1::Route> createRoute(const fwd::v1::CreateRouteRequest& request) override;
  absl::StatusOr<fwd::v1::Route> getRoute(const fwd::v1::GetRouteRequest& request) override;
  absl::StatusOr<fwd::v1::ListRoutesResponse> listRoutes(
      const fwd::v1::ListRoutesRequest& request) override;
  absl::StatusOr<fwd::v1::Route> updateRoute(const fwd::v1::UpdateRouteRequest& request) override;
  absl::StatusOr<fwd::v1::DeleteRouteResponse> deleteRoute(
      const fwd::v1::DeleteRouteRequest& request) override;
  absl::StatusOr<fwd::v1::CreateKeyResponse> createKey(
      const fwd::v1::CreateKeyRequest& request) override;
  absl::StatusOr<fwd::v1::ListKeysResponse> listKeys(
      const fwd::v1::ListKeysRequest& request) override;
  absl::StatusOr<fwd::v1::Key> getKey(const fwd::v1::GetKeyRequest& request) override;
  absl::StatusOr<fwd::v1::GetKeyLimitsResponse> getKeyLimits(
      const fwd::v1::GetKeyLimitsRequest& request) override;
  absl::StatusOr<fwd::v1::GetUsageResponse> getUsage(
      const fwd::v1::GetUsageRequest& request) override;
  absl::StatusOr<fwd::v1::ListRecordsResponse> listRecords(
      const fwd::v1::ListRecordsRequest& request) override;
  absl::StatusOr<fwd::v1::Notifier> createNotifier(
      const fwd::v1::CreateNotifierRequest& request) override;
  absl::StatusOr<fwd::v1::Notifier> getNotifier(
      const fwd::v1::GetNotifierRequest& request) override;
  absl::StatusOr<fwd::v1::ListNotifiersResponse> listNotifiers(
      const fwd::v1::ListNotifiersRequest& request) override;
  absl::StatusOr<fwd::v1::Notifier> updateNotifier(
      const fwd::v1::UpdateNotifierRequest& request) override;
  absl::StatusOr<fwd::v1::DeleteNotifierResponse> deleteNotifier(
      const fwd::v1::DeleteNotifierRequest& request) override;
  absl::StatusOr<fwd::v1::TestNotifierResponse> testNotifier(
      const fwd::v1::TestNotifierRequest& request) override;
  absl::StatusOr<fwd::v1::Key> updateKey(const fwd::v1::UpdateKeyRequest& request) override;
  absl::StatusOr<fwd::v1::CreateKeyResponse> rotateKey(
      const fwd::v1::RotateKeyRequest& request) override;
  absl::StatusOr<fwd::v1::Key> revokeKey(const fwd::v1::RevokeKeyRequest& request) override;
  absl::StatusOr<fwd::v1::IpRule> addIpRule(const fwd::v1::AddIpRuleRequest& request) override;
  absl::StatusOr<fwd::v1::ListIpRulesResponse> listIpRules(
      const fwd::v1::ListIpRulesRequest& request) override;
  absl::StatusOr<fwd::v1::RemoveIpRuleResponse> removeIpRule(
      const fwd::v1::RemoveIpRuleRequest& request) override;
  absl::StatusOr<fwd::v1::SetPriceResponse> setPrice(
      const fwd::v1::SetPriceRequest& request) override;
  absl::StatusOr<fwd::v1::Price> getPrice(const fwd::v1::GetPriceRequest& request) override;
  absl::StatusOr<fwd::v1::ListPricesResponse> listPrices(
      const fwd::v1::ListPricesRequest& request) override;
  absl::StatusOr<fwd::v1::DeletePriceResponse> deletePrice(
      const fwd::v1::DeletePriceRequest& request) override;
  absl::StatusOr<fwd::v1::ListSettingsResponse> listSettings(
      const fwd::v1::ListSettingsRequest& request) override;
  absl::StatusOr<fwd::v1::Setting> setSetting(const fwd::v1::SetSettingRequest& request) override;
  absl::StatusOr<fwd::v1::GetStatusResponse> getStatus(
      const fwd::v1::GetStatusRequest& request) override;

 private:
  // Runs one unary call: sets deadline, wait_for_ready(false) and the token, then maps errors.
  template <typename Request, typename Response, typename Method>
  absl::StatusOr<Response> call(Method method, const Request& request);

  // The server's error unchanged, unless the channel never got connected: then unreachable.
  absl::Status mapError(const grpc::Status& status);

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<fwd::v1::AdminService::Stub> stub_;
};

/// The production factory: an AdminClient for `options`.
AdminApiPtr connectAdmin(const ClientOptions& options);

}  // namespace fwd::cli::client
