#include "cli/client/admin_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "cli/client/error_kind.h"
#include "common/config/duration.h"
#include "common/status/grpc_status.h"

namespace fwd::cli::client {

namespace {

grpc::ChannelArguments channelArguments() {
  grpc::ChannelArguments args;
  // A page of 100 records with bodies (each at most 1 MiB twice) passes gRPC's 4 MiB default.
  args.SetMaxReceiveMessageSize(256 << 20);
  return args;
}

}  // namespace

AdminClient::AdminClient(ClientOptions options)
    : options_(std::move(options)),
      channel_(grpc::CreateCustomChannel(
          options_.server,
          options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials(),
          channelArguments())),
      stub_(fwd::v1::AdminService::NewStub(channel_)) {}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> AdminClient::call(Method method, const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
  context.set_wait_for_ready(false);
  context.AddMetadata("authorization", "Bearer " + options_.token);
  Response response;
  grpc::Status status = (stub_.get()->*method)(&context, request, &response);
  if (!status.ok()) {
    return mapError(status);
  }
  return response;
}

absl::Status AdminClient::mapError(const grpc::Status& status) {
  // UNAVAILABLE or DEADLINE_EXCEEDED on a channel that is not READY means no connection was
  // made (refused, unresolvable, black-holed). The same codes on a READY channel came from the
  // server, whose message is worth showing as is.
  bool transport_code = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  if (transport_code && channel_->GetState(false) != GRPC_CHANNEL_READY) {
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return unreachableError(options_.server,
                              "no connection within " +
                                  fwd::common::config::formatDuration(options_.timeout) +
                                  " (--timeout)");
    }
    return unreachableError(options_.server, status.error_message());
  }
  return fwd::common::status::fromGrpc(status);
}

absl::StatusOr<fwd::v1::Upstream> AdminClient::createUpstream(
    const fwd::v1::CreateUpstreamRequest& request) {
  return call<fwd::v1::CreateUpstreamRequest, fwd::v1::Upstream>(
      &fwd::v1::AdminService::Stub::CreateUpstream, request);
}

absl::StatusOr<fwd::v1::Upstream> AdminClient::getUpstream(
    const fwd::v1::GetUpstreamRequest& request) {
  return call<fwd::v1::GetUpstreamRequest, fwd::v1::Upstream>(
      &fwd::v1::AdminService::Stub::GetUpstream, request);
}

absl::StatusOr<fwd::v1::ListUpstreamsResponse> AdminClient::listUpstreams(
    const fwd::v1::ListUpstreamsRequest& request) {
  return call<fwd::v1::ListUpstreamsRequest, fwd::v1::ListUpstreamsResponse>(
      &fwd::v1::AdminService::Stub::ListUpstreams, request);
}

absl::StatusOr<fwd::v1::Upstream> AdminClient::updateUpstream(
    const fwd::v1::UpdateUpstreamRequest& request) {
  return call<fwd::v1::UpdateUpstreamRequest, fwd::v1::Upstream>(
      &fwd::v1::AdminService::Stub::UpdateUpstream, request);
}

absl::StatusOr<fwd::v1::DeleteUpstreamResponse> AdminClient::deleteUpstream(
    const fwd::v1::DeleteUpstreamRequest& request) {
  return call<fwd::v1::DeleteUpstreamRequest, fwd::v1::DeleteUpstreamResponse>(
      &fwd::v1::AdminService::Stub::DeleteUpstream, request);
}

absl::StatusOr<fwd::v1::Route> AdminClient::createRoute(
    const fwd::v1::CreateRouteRequest& request) {
  return call<fwd::v1::CreateRouteRequest, fwd::v1::Route>(
      &fwd::v1::AdminService::Stub::CreateRoute, request);
}

absl::StatusOr<fwd::v1::Route> AdminClient::getRoute(const fwd::v1::GetRouteRequest& request) {
  return call<fwd::v1::GetRouteRequest, fwd::v1::Route>(&fwd::v1::AdminService::Stub::GetRoute,
                                                        request);
}

absl::StatusOr<fwd::v1::ListRoutesResponse> AdminClient::listRoutes(
    const fwd::v1::ListRoutesRequest& request) {
  return call<fwd::v1::ListRoutesRequest, fwd::v1::ListRoutesResponse>(
      &fwd::v1::AdminService::Stub::ListRoutes, request);
}

absl::StatusOr<fwd::v1::Route> AdminClient::updateRoute(
    const fwd::v1::UpdateRouteRequest& request) {
  return call<fwd::v1::UpdateRouteRequest, fwd::v1::Route>(
      &fwd::v1::AdminService::Stub::UpdateRoute, request);
}

absl::StatusOr<fwd::v1::DeleteRouteResponse> AdminClient::deleteRoute(
    const fwd::v1::DeleteRouteRequest& request) {
  return call<fwd::v1::DeleteRouteRequest, fwd::v1::DeleteRouteResponse>(
      &fwd::v1::AdminService::Stub::DeleteRoute, request);
}

absl::StatusOr<fwd::v1::CreateKeyResponse> AdminClient::createKey(
    const fwd::v1::CreateKeyRequest& request) {
  return call<fwd::v1::CreateKeyRequest, fwd::v1::CreateKeyResponse>(
      &fwd::v1::AdminService::Stub::CreateKey, request);
}

absl::StatusOr<fwd::v1::ListKeysResponse> AdminClient::listKeys(
    const fwd::v1::ListKeysRequest& request) {
  return call<fwd::v1::ListKeysRequest, fwd::v1::ListKeysResponse>(
      &fwd::v1::AdminService::Stub::ListKeys, request);
}

absl::StatusOr<fwd::v1::Key> AdminClient::getKey(const fwd::v1::GetKeyRequest& request) {
  return call<fwd::v1::GetKeyRequest, fwd::v1::Key>(&fwd::v1::AdminService::Stub::GetKey, request);
}

absl::StatusOr<fwd::v1::GetKeyLimitsResponse> AdminClient::getKeyLimits(
    const fwd::v1::GetKeyLimitsRequest& request) {
  return call<fwd::v1::GetKeyLimitsRequest, fwd::v1::GetKeyLimitsResponse>(
      &fwd::v1::AdminService::Stub::GetKeyLimits, request);
}

absl::StatusOr<fwd::v1::GetUsageResponse> AdminClient::getUsage(
    const fwd::v1::GetUsageRequest& request) {
  return call<fwd::v1::GetUsageRequest, fwd::v1::GetUsageResponse>(
      &fwd::v1::AdminService::Stub::GetUsage, request);
}

absl::StatusOr<fwd::v1::ListRecordsResponse> AdminClient::listRecords(
    const fwd::v1::ListRecordsRequest& request) {
  return call<fwd::v1::ListRecordsRequest, fwd::v1::ListRecordsResponse>(
      &fwd::v1::AdminService::Stub::ListRecords, request);
}

absl::StatusOr<fwd::v1::Notifier> AdminClient::createNotifier(
    const fwd::v1::CreateNotifierRequest& request) {
  return call<fwd::v1::CreateNotifierRequest, fwd::v1::Notifier>(
      &fwd::v1::AdminService::Stub::CreateNotifier, request);
}

absl::StatusOr<fwd::v1::Notifier> AdminClient::getNotifier(
    const fwd::v1::GetNotifierRequest& request) {
  return call<fwd::v1::GetNotifierRequest, fwd::v1::Notifier>(
      &fwd::v1::AdminService::Stub::GetNotifier, request);
}

absl::StatusOr<fwd::v1::ListNotifiersResponse> AdminClient::listNotifiers(
    const fwd::v1::ListNotifiersRequest& request) {
  return call<fwd::v1::ListNotifiersRequest, fwd::v1::ListNotifiersResponse>(
      &fwd::v1::AdminService::Stub::ListNotifiers, request);
}

absl::StatusOr<fwd::v1::Notifier> AdminClient::updateNotifier(
    const fwd::v1::UpdateNotifierRequest& request) {
  return call<fwd::v1::UpdateNotifierRequest, fwd::v1::Notifier>(
      &fwd::v1::AdminService::Stub::UpdateNotifier, request);
}

absl::StatusOr<fwd::v1::DeleteNotifierResponse> AdminClient::deleteNotifier(
    const fwd::v1::DeleteNotifierRequest& request) {
  return call<fwd::v1::DeleteNotifierRequest, fwd::v1::DeleteNotifierResponse>(
      &fwd::v1::AdminService::Stub::DeleteNotifier, request);
}

absl::StatusOr<fwd::v1::TestNotifierResponse> AdminClient::testNotifier(
    const fwd::v1::TestNotifierRequest& request) {
  return call<fwd::v1::TestNotifierRequest, fwd::v1::TestNotifierResponse>(
      &fwd::v1::AdminService::Stub::TestNotifier, request);
}

absl::StatusOr<fwd::v1::Key> AdminClient::updateKey(const fwd::v1::UpdateKeyRequest& request) {
  return call<fwd::v1::UpdateKeyRequest, fwd::v1::Key>(&fwd::v1::AdminService::Stub::UpdateKey,
                                                       request);
}

absl::StatusOr<fwd::v1::CreateKeyResponse> AdminClient::rotateKey(
    const fwd::v1::RotateKeyRequest& request) {
  return call<fwd::v1::RotateKeyRequest, fwd::v1::CreateKeyResponse>(
      &fwd::v1::AdminService::Stub::RotateKey, request);
}

absl::StatusOr<fwd::v1::Key> AdminClient::revokeKey(const fwd::v1::RevokeKeyRequest& request) {
  return call<fwd::v1::RevokeKeyRequest, fwd::v1::Key>(&fwd::v1::AdminService::Stub::RevokeKey,
                                                       request);
}

absl::StatusOr<fwd::v1::IpRule> AdminClient::addIpRule(const fwd::v1::AddIpRuleRequest& request) {
  return call<fwd::v1::AddIpRuleRequest, fwd::v1::IpRule>(&fwd::v1::AdminService::Stub::AddIpRule,
                                                          request);
}

absl::StatusOr<fwd::v1::ListIpRulesResponse> AdminClient::listIpRules(
    const fwd::v1::ListIpRulesRequest& request) {
  return call<fwd::v1::ListIpRulesRequest, fwd::v1::ListIpRulesResponse>(
      &fwd::v1::AdminService::Stub::ListIpRules, request);
}

absl::StatusOr<fwd::v1::RemoveIpRuleResponse> AdminClient::removeIpRule(
    const fwd::v1::RemoveIpRuleRequest& request) {
  return call<fwd::v1::RemoveIpRuleRequest, fwd::v1::RemoveIpRuleResponse>(
      &fwd::v1::AdminService::Stub::RemoveIpRule, request);
}

absl::StatusOr<fwd::v1::SetPriceResponse> AdminClient::setPrice(
    const fwd::v1::SetPriceRequest& request) {
  return call<fwd::v1::SetPriceRequest, fwd::v1::SetPriceResponse>(
      &fwd::v1::AdminService::Stub::SetPrice, request);
}

absl::StatusOr<fwd::v1::Price> AdminClient::getPrice(const fwd::v1::GetPriceRequest& request) {
  return call<fwd::v1::GetPriceRequest, fwd::v1::Price>(&fwd::v1::AdminService::Stub::GetPrice,
                                                        request);
}

absl::StatusOr<fwd::v1::ListPricesResponse> AdminClient::listPrices(
    const fwd::v1::ListPricesRequest& request) {
  return call<fwd::v1::ListPricesRequest, fwd::v1::ListPricesResponse>(
      &fwd::v1::AdminService::Stub::ListPrices, request);
}

absl::StatusOr<fwd::v1::DeletePriceResponse> AdminClient::deletePrice(
    const fwd::v1::DeletePriceRequest& request) {
  return call<fwd::v1::DeletePriceRequest, fwd::v1::DeletePriceResponse>(
      &fwd::v1::AdminService::Stub::DeletePrice, request);
}

absl::StatusOr<fwd::v1::ListSettingsResponse> AdminClient::listSettings(
    const fwd::v1::ListSettingsRequest& request) {
  return call<fwd::v1::ListSettingsRequest, fwd::v1::ListSettingsResponse>(
      &fwd::v1::AdminService::Stub::ListSettings, request);
}

absl::StatusOr<fwd::v1::Setting> AdminClient::setSetting(
    const fwd::v1::SetSettingRequest& request) {
  return call<fwd::v1::SetSettingRequest, fwd::v1::Setting>(
      &fwd::v1::AdminService::Stub::SetSetting, request);
}

absl::StatusOr<fwd::v1::GetStatusResponse> AdminClient::getStatus(
    const fwd::v1::GetStatusRequest& request) {
  return call<fwd::v1::GetStatusRequest, fwd::v1::GetStatusResponse>(
      &fwd::v1::AdminService::Stub::GetStatus, request);
}

AdminApiPtr connectAdmin(const ClientOptions& options) {
  return std::make_unique<AdminClient>(options);
}

}  // namespace fwd::cli::client
