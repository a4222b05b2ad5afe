// AdminService and WatchService over real gRPC: the server runs in-process on 127.0.0.1:0 and
// is called through the generated stubs, as fwdctl and the data plane call it.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <thread>

#include "common/crypto/token.h"
#include "controlplane/service/server.h"
#include "controlplane/store/data_dir.h"
#include "controlplane/store/sqlite_store.h"
#include "google/protobuf/unknown_field_set.h"
#include "tests/unit/controlplane/temp_dir.h"

namespace fwd::controlplane::service {
namespace {

using controlplane::testing::readFile;
using controlplane::testing::TempDir;
using std::chrono::steady_clock;
using WatchStream = grpc::ClientReaderWriter<fwd::v1::WatchRequest, fwd::v1::WatchResponse>;

constexpr auto kWaitLimit = std::chrono::seconds(5);

std::string tokenFrom(const std::string& path) {
  std::string text = readFile(path);
  if (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  return text;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<store::SqliteStore>> opened =
        store::SqliteStore::open(dir_.file("fwd.db"));
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
    ASSERT_TRUE(store::bootstrapTokens(*store_, dir_.path()).ok());
    admin_token_ = tokenFrom(dir_.file("admin.token"));
    node_token_ = tokenFrom(dir_.file("node.token"));
    absl::StatusOr<std::unique_ptr<TokenAuthenticator>> auth = TokenAuthenticator::load(*store_);
    ASSERT_TRUE(auth.ok());
    auth_ = std::move(*auth);
    publisher_ = std::make_unique<snapshot::Publisher>(*store_, hub_);
    ASSERT_TRUE(publisher_->publishCurrent().ok());
    absl::StatusOr<std::unique_ptr<records::RecordStore>> records =
        records::RecordStore::open(dir_.file("records"));
    ASSERT_TRUE(records.ok()) << records.status();
    records_ = std::move(*records);
    absl::StatusOr<std::unique_ptr<ControlPlaneServer>> server = ControlPlaneServer::start(
        "127.0.0.1:0", {*store_, hub_, *publisher_, registry_, *auth_, records_.get()},
        std::chrono::milliseconds(50));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials());
    admin_ = fwd::v1::AdminService::NewStub(channel);
    watch_ = fwd::v1::WatchService::NewStub(channel);
    records_stub_ = fwd::v1::RecordsService::NewStub(channel);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->shutdown();
    }
  }

  /// A client context carrying `token` (none if empty) and a deadline, so no call can hang.
  std::unique_ptr<grpc::ClientContext> contextWith(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) {
      context->AddMetadata("authorization", "Bearer " + token);
    }
    context->set_deadline(std::chrono::system_clock::now() + kWaitLimit);
    return context;
  }
  std::unique_ptr<grpc::ClientContext> admin() { return contextWith(admin_token_); }

  fwd::v1::Upstream createUpstream(const std::string& name, int priority = 0) {
    fwd::v1::CreateUpstreamRequest request;
    request.mutable_upstream()->set_name(name);
    request.mutable_upstream()->set_base_url("http://127.0.0.1:9/v1/");
    request.mutable_upstream()->set_api_key("sk-test-0123456789");
    request.mutable_upstream()->set_priority(priority);
    request.mutable_upstream()->add_models("gpt-*");
    fwd::v1::Upstream response;
    grpc::Status s = admin_->CreateUpstream(admin().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  fwd::v1::GetStatusResponse status() {
    fwd::v1::GetStatusResponse response;
    grpc::Status s = admin_->GetStatus(admin().get(), fwd::v1::GetStatusRequest(), &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  /// Polls GetStatus until `node_id`'s entry satisfies `pred`, for at most kWaitLimit.
  ::testing::AssertionResult waitForNode(
      const std::string& node_id, const std::function<bool(const fwd::v1::DataPlaneStatus&)>& pred,
      const std::string& what) {
    const auto deadline = steady_clock::now() + kWaitLimit;
    std::string last = "(node not listed)";
    while (steady_clock::now() < deadline) {
      const fwd::v1::GetStatusResponse current = status();
      for (const fwd::v1::DataPlaneStatus& node : current.dataplanes()) {
        if (node.node_id() == node_id) {
          if (pred(node)) {
            return ::testing::AssertionSuccess();
          }
          last = node.ShortDebugString();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return ::testing::AssertionFailure()
           << "node " << node_id << " never got " << what << "; last status: " << last;
  }

  /// Opens a Watch stream and says hello.
  std::unique_ptr<WatchStream> openWatch(grpc::ClientContext& context, const std::string& node,
                                         std::uint64_t applied, bool answers_queries = false) {
    std::unique_ptr<WatchStream> stream = watch_->Watch(&context);
    fwd::v1::WatchRequest hello;
    hello.mutable_hello()->set_node_id(node);
    hello.mutable_hello()->set_applied_version(applied);
    hello.mutable_hello()->set_build_version("test");
    hello.mutable_hello()->set_answers_limits_queries(answers_queries);
    EXPECT_TRUE(stream->Write(hello));
    return stream;
  }

  TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::string admin_token_;
  std::string node_token_;
  std::unique_ptr<TokenAuthenticator> auth_;
  snapshot::SnapshotHub hub_;
  std::unique_ptr<snapshot::Publisher> publisher_;
  NodeRegistry registry_;
  std::unique_ptr<records::RecordStore> records_;
  std::unique_ptr<ControlPlaneServer> server_;
  std::unique_ptr<fwd::v1::RecordsService::Stub> records_stub_;
  std::unique_ptr<fwd::v1::AdminService::Stub> admin_;
  std::unique_ptr<fwd::v1::WatchService::Stub> watch_;
};

TEST_F(ServiceTest, AdminCallsNeedTheAdminToken) {
  // No token, a wrong one, or the node token: UNAUTHENTICATED; the admin token: OK.
  fwd::v1::ListUpstreamsResponse response;
  grpc::Status none = admin_->ListUpstreams(contextWith("").get(), {}, &response);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(none.error_message().rfind("missing admin token: pass --token, set FWD_ADMIN_TOKEN", 0),
            0u)
      << none.error_message();
  grpc::Status wrong = admin_->ListUpstreams(contextWith("fwd-admin-nope").get(), {}, &response);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(wrong.error_message(), "invalid admin token");
  grpc::Status node = admin_->ListUpstreams(contextWith(node_token_).get(), {}, &response);
  EXPECT_EQ(node.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto basic = contextWith("");
  basic->AddMetadata("authorization", "Basic " + admin_token_);
  EXPECT_EQ(admin_->ListUpstreams(basic.get(), {}, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(admin_->ListUpstreams(admin().get(), {}, &response).ok());
}

TEST_F(ServiceTest, WatchNeedsTheNodeToken) {
  // The admin token does not open a Watch stream.
  auto context = contextWith(admin_token_);
  std::unique_ptr<WatchStream> stream = watch_->Watch(context.get());
  fwd::v1::WatchRequest hello;
  hello.mutable_hello()->set_node_id("dp-1");
  // The server may reject the call before the hello is written; either way the status tells.
  (void)stream->Write(hello);
  fwd::v1::WatchResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message(), "invalid node token");
}

TEST_F(ServiceTest, UpstreamCrudRoundTripNeverShowsTheApiKey) {
  // Create/get/list/update/delete work end to end; responses carry a hint, never the key.
  fwd::v1::Upstream created = createUpstream("openai");
  EXPECT_EQ(created.name(), "openai");
  EXPECT_EQ(created.base_url(), "http://127.0.0.1:9/v1");
  EXPECT_EQ(created.credential_case(), fwd::v1::Upstream::CREDENTIAL_NOT_SET);
  EXPECT_EQ(created.api_key_hint(),
            "\xE2\x80\xA6"
            "6789");
  EXPECT_EQ(created.weight(), 1u);
  EXPECT_EQ(created.timeout().seconds(), 600);
  EXPECT_GT(created.id(), 0u);
  EXPECT_GT(created.create_time().seconds(), 0);

  fwd::v1::CreateUpstreamRequest dup;
  dup.mutable_upstream()->set_name("openai");
  dup.mutable_upstream()->set_base_url("http://127.0.0.1:9");
  fwd::v1::Upstream ignored;
  grpc::Status dup_status = admin_->CreateUpstream(admin().get(), dup, &ignored);
  EXPECT_EQ(dup_status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(dup_status.error_message(), "upstream \"openai\" already exists");

  createUpstream("backup", -5);
  fwd::v1::ListUpstreamsResponse list;
  ASSERT_TRUE(admin_->ListUpstreams(admin().get(), {}, &list).ok());
  ASSERT_EQ(list.upstreams_size(), 2);
  EXPECT_EQ(list.upstreams(0).name(), "backup");
  EXPECT_EQ(list.upstreams(1).name(), "openai");
  for (const auto& u : list.upstreams()) {
    EXPECT_TRUE(u.api_key().empty());
  }

  fwd::v1::UpdateUpstreamRequest update;
  update.mutable_upstream()->set_name("openai");
  update.mutable_upstream()->set_priority(-10);
  update.mutable_upstream()->set_weight(999);  // not in the mask
  update.mutable_update_mask()->add_paths("priority");
  fwd::v1::Upstream updated;
  ASSERT_TRUE(admin_->UpdateUpstream(admin().get(), update, &updated).ok());
  EXPECT_EQ(updated.priority(), -10);
  EXPECT_EQ(updated.weight(), 1u);
  EXPECT_EQ(updated.api_key_hint(), created.api_key_hint());

  update.mutable_update_mask()->clear_paths();
  grpc::Status nothing = admin_->UpdateUpstream(admin().get(), update, &updated);
  EXPECT_EQ(nothing.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(nothing.error_message().rfind("nothing to update", 0), 0u);
  update.mutable_update_mask()->add_paths("name");
  EXPECT_EQ(admin_->UpdateUpstream(admin().get(), update, &updated).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("base_url");
  update.mutable_upstream()->set_base_url("ftp://x");
  grpc::Status bad_url = admin_->UpdateUpstream(admin().get(), update, &updated);
  EXPECT_EQ(bad_url.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad_url.error_message(), "upstream.base_url \"ftp://x\": scheme must be http or https");

  fwd::v1::GetUpstreamRequest get;
  get.set_name("openai");
  fwd::v1::Upstream got;
  ASSERT_TRUE(admin_->GetUpstream(admin().get(), get, &got).ok());
  EXPECT_EQ(got.priority(), -10);
  EXPECT_EQ(got.base_url(), "http://127.0.0.1:9/v1");

  const std::uint64_t before = status().version();
  fwd::v1::DeleteUpstreamRequest del;
  del.set_name("openai");
  fwd::v1::DeleteUpstreamResponse deleted;
  ASSERT_TRUE(admin_->DeleteUpstream(admin().get(), del, &deleted).ok());
  EXPECT_EQ(deleted.version(), before + 1);
  grpc::Status gone = admin_->GetUpstream(admin().get(), get, &got);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(gone.error_message(), "upstream \"openai\" not found");
  EXPECT_EQ(admin_->DeleteUpstream(admin().get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // The snapshot, unlike the admin API, carries the key.
  snapshot::SnapshotConstSharedPtr snap = hub_.current();
  ASSERT_EQ(snap->version(), deleted.version());
  ASSERT_EQ(snap->upstreams_size(), 1);
  EXPECT_EQ(snap->upstreams(0).api_key(), "sk-test-0123456789");
}

TEST_F(ServiceTest, KeysAreUpdatedAndRotatedIntoTheSnapshotWithoutShowingHashes) {
  // UpdateKey changes the models; RotateKey returns the new secret once, puts its hash (and the
  // old one's, for the grace period) into the snapshot and never into admin answers.
  fwd::v1::CreateKeyRequest create;
  create.set_name("team-a");
  fwd::v1::CreateKeyResponse created;
  ASSERT_TRUE(admin_->CreateKey(admin().get(), create, &created).ok());

  fwd::v1::UpdateKeyRequest update;
  update.mutable_key()->set_name("team-a");
  update.mutable_key()->add_models("gpt-*");
  fwd::v1::Key updated;
  EXPECT_EQ(admin_->UpdateKey(admin().get(), update, &updated).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // no update_mask
  update.mutable_update_mask()->add_paths("models");
  ASSERT_TRUE(admin_->UpdateKey(admin().get(), update, &updated).ok());
  ASSERT_EQ(hub_.current()->keys(0).models_size(), 1);
  EXPECT_EQ(hub_.current()->keys(0).models(0), "gpt-*");

  fwd::v1::RotateKeyRequest rotate;
  rotate.set_name("team-a");
  rotate.mutable_grace()->set_seconds(60);
  fwd::v1::CreateKeyResponse rotated;
  ASSERT_TRUE(admin_->RotateKey(admin().get(), rotate, &rotated).ok());
  EXPECT_NE(rotated.secret(), created.secret());
  EXPECT_EQ(rotated.key().display_prefix(), rotated.secret().substr(0, 8));
  EXPECT_TRUE(rotated.key().secret_sha256().empty());
  EXPECT_TRUE(rotated.key().previous_secret_sha256().empty());
  EXPECT_TRUE(rotated.key().has_previous_secret_expire_time());
  const fwd::v1::Key& in_snapshot = hub_.current()->keys(0);
  EXPECT_EQ(in_snapshot.secret_sha256(), common::crypto::sha256Hex(rotated.secret()));
  EXPECT_EQ(in_snapshot.previous_secret_sha256(), common::crypto::sha256Hex(created.secret()));

  rotate.mutable_grace()->set_seconds(-5);
  EXPECT_EQ(admin_->RotateKey(admin().get(), rotate, &rotated).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  rotate.set_name("nobody");
  rotate.clear_grace();
  EXPECT_EQ(admin_->RotateKey(admin().get(), rotate, &rotated).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, PricesAreSetReplacedPublishedAndRemoved) {
  fwd::v1::SetPriceRequest set;
  set.mutable_price()->set_model("gpt-4o");
  set.mutable_price()->set_input_usd_micros(2'500'000);
  set.mutable_price()->set_output_usd_micros(10'000'000);
  fwd::v1::SetPriceResponse answer;
  ASSERT_TRUE(admin_->SetPrice(admin().get(), set, &answer).ok());
  EXPECT_TRUE(answer.created());
  ASSERT_EQ(hub_.current()->prices_size(), 1);
  EXPECT_EQ(hub_.current()->prices(0).output_usd_micros(), 10'000'000u);
  set.mutable_price()->set_output_usd_micros(8'000'000);
  ASSERT_TRUE(admin_->SetPrice(admin().get(), set, &answer).ok());
  EXPECT_FALSE(answer.created());
  EXPECT_EQ(hub_.current()->prices(0).output_usd_micros(), 8'000'000u);

  set.mutable_price()->set_model("gpt 4o");
  grpc::Status bad = admin_->SetPrice(admin().get(), set, &answer);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("price.model \"gpt 4o\""), std::string::npos)
      << bad.error_message();

  fwd::v1::GetPriceRequest get;
  get.set_model("gpt-4o");
  fwd::v1::Price got;
  ASSERT_TRUE(admin_->GetPrice(admin().get(), get, &got).ok());
  EXPECT_EQ(got.input_usd_micros(), 2'500'000u);
  fwd::v1::ListPricesResponse list;
  ASSERT_TRUE(admin_->ListPrices(admin().get(), {}, &list).ok());
  EXPECT_EQ(list.prices_size(), 1);
  fwd::v1::DeletePriceRequest remove;
  remove.set_model("gpt-4o");
  fwd::v1::DeletePriceResponse removed;
  ASSERT_TRUE(admin_->DeletePrice(admin().get(), remove, &removed).ok());
  EXPECT_EQ(hub_.current()->prices_size(), 0);
  EXPECT_EQ(admin_->DeletePrice(admin().get(), remove, &removed).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(admin_->GetPrice(admin().get(), get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, SettingsAreListedWithDefaultsAndSetIntoTheSnapshot) {
  // ListSettings shows every setting (its default until set); SetSetting checks the name and
  // value and publishes; a key created with errors_as_200 carries it into the snapshot.
  fwd::v1::ListSettingsResponse list;
  ASSERT_TRUE(admin_->ListSettings(admin().get(), {}, &list).ok());
  ASSERT_EQ(list.settings_size(), 12);
  EXPECT_EQ(list.settings(0).name(), "errors_as_200");
  EXPECT_EQ(list.settings(0).value(), "false");
  EXPECT_EQ(list.settings(1).name(), "default_rate");
  EXPECT_EQ(list.settings(1).value(), "");

  fwd::v1::SetSettingRequest set;
  set.set_name("errors_as_200");
  set.set_value("True");
  fwd::v1::Setting answer;
  ASSERT_TRUE(admin_->SetSetting(admin().get(), set, &answer).ok());
  EXPECT_EQ(answer.value(), "true");
  EXPECT_TRUE(hub_.current()->settings().errors_as_200());
  set.set_name("nope");
  EXPECT_EQ(admin_->SetSetting(admin().get(), set, &answer).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  fwd::v1::CreateKeyRequest create;
  create.set_name("legacy");
  create.set_errors_as_200(true);
  fwd::v1::CreateKeyResponse created;
  ASSERT_TRUE(admin_->CreateKey(admin().get(), create, &created).ok());
  EXPECT_TRUE(created.key().errors_as_200());
  EXPECT_TRUE(hub_.current()->keys(0).errors_as_200());

  // Default limits reach the snapshot; a key's own limits are stored with it.
  set.set_name("default_rate");
  set.set_value("100/minute");
  ASSERT_TRUE(admin_->SetSetting(admin().get(), set, &answer).ok());
  EXPECT_EQ(hub_.current()->settings().default_limits().rate(0).count(), 100u);
  create.set_name("limited");
  create.mutable_limits()->set_max_parallel(3);
  ASSERT_TRUE(admin_->CreateKey(admin().get(), create, &created).ok());
  EXPECT_EQ(created.key().limits().max_parallel(), 3u);
  create.set_name("too-parallel");
  create.mutable_limits()->set_max_parallel(1000000);
  EXPECT_EQ(admin_->CreateKey(admin().get(), create, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, KeysAreShownOnceAndRevokedOutOfTheSnapshot) {
  // CreateKey returns the secret once and stores its hash; revocation removes it from the
  // snapshot but not from ListKeys.
  fwd::v1::CreateKeyRequest create;
  create.set_name("team-a");
  create.add_models("gpt-*");
  fwd::v1::CreateKeyResponse created;
  ASSERT_TRUE(admin_->CreateKey(admin().get(), create, &created).ok());
  EXPECT_EQ(created.secret().rfind("fwd-", 0), 0u);
  EXPECT_EQ(created.secret().size(), 4u + 32u);
  EXPECT_EQ(created.key().display_prefix(), created.secret().substr(0, 8));
  EXPECT_TRUE(created.key().secret_sha256().empty());
  ASSERT_EQ(hub_.current()->keys_size(), 1);
  EXPECT_EQ(hub_.current()->keys(0).secret_sha256(), common::crypto::sha256Hex(created.secret()));

  fwd::v1::CreateKeyResponse dup;
  EXPECT_EQ(admin_->CreateKey(admin().get(), create, &dup).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  fwd::v1::RevokeKeyRequest revoke;
  revoke.set_name("team-a");
  fwd::v1::Key revoked;
  ASSERT_TRUE(admin_->RevokeKey(admin().get(), revoke, &revoked).ok());
  EXPECT_TRUE(revoked.has_revoke_time());
  EXPECT_TRUE(revoked.secret_sha256().empty());
  EXPECT_EQ(admin_->RevokeKey(admin().get(), revoke, &revoked).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  revoke.set_name("nobody");
  EXPECT_EQ(admin_->RevokeKey(admin().get(), revoke, &revoked).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(hub_.current()->keys_size(), 0);

  fwd::v1::ListKeysResponse list;
  ASSERT_TRUE(admin_->ListKeys(admin().get(), {}, &list).ok());
  ASSERT_EQ(list.keys_size(), 1);
  fwd::v1::GetKeyRequest get;
  get.set_name("team-a");
  fwd::v1::Key got;
  ASSERT_TRUE(admin_->GetKey(admin().get(), get, &got).ok());
  EXPECT_TRUE(got.has_revoke_time());
  EXPECT_TRUE(got.secret_sha256().empty());
  EXPECT_TRUE(list.keys(0).has_revoke_time());
  EXPECT_TRUE(list.keys(0).secret_sha256().empty());
}

TEST_F(ServiceTest, RequestsWithUnknownFieldsAreRejected) {
  // A field from a newer fwdctl, top-level or nested, is INVALID_ARGUMENT, and nothing is
  // written.
  fwd::v1::CreateUpstreamRequest request;
  request.mutable_upstream()->set_name("new");
  request.mutable_upstream()->set_base_url("http://127.0.0.1:9");
  fwd::v1::Upstream* upstream = request.mutable_upstream();
  upstream->GetReflection()->MutableUnknownFields(upstream)->AddLengthDelimited(42, "future");
  fwd::v1::Upstream response;
  grpc::Status nested = admin_->CreateUpstream(admin().get(), request, &response);
  EXPECT_EQ(nested.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(nested.error_message(),
            "request has fields this control plane does not know (field numbers upstream.42): "
            "upgrade fwd-controlplane");

  fwd::v1::ListKeysRequest list;
  ASSERT_TRUE(list.ParseFromString(std::string("\xa0\x06\x01", 3)));  // field 100 = 1
  fwd::v1::ListKeysResponse keys;
  grpc::Status top = admin_->ListKeys(admin().get(), list, &keys);
  EXPECT_EQ(top.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(top.error_message().find("field numbers 100"), std::string::npos);
  EXPECT_EQ(status().version(), 0u);
}

TEST_F(ServiceTest, RouteCrudRoundTripAndSnapshot) {
  // Create/get/list/update/delete routes over gRPC: defaults applied, mask honoured, errors
  // precise, every write published in the snapshot, and an upstream in use cannot be deleted.
  createUpstream("openai");
  createUpstream("backup");
  fwd::v1::CreateRouteRequest create;
  fwd::v1::Route* route = create.mutable_route();
  route->set_name("chat");
  route->set_path_prefix("/team-a");
  route->add_models()->set_glob("gpt-*");
  route->add_upstreams("openai");
  route->add_upstreams("backup");
  route->set_id(77);  // output only: ignored
  fwd::v1::Route created;
  grpc::Status s = admin_->CreateRoute(admin().get(), create, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(created.strategy(), fwd::v1::BALANCE_STRATEGY_ORDERED);
  EXPECT_EQ(created.id(), 1u);
  EXPECT_GT(created.create_time().seconds(), 0);
  EXPECT_EQ(hub_.current()->routes_size(), 1);
  EXPECT_EQ(hub_.current()->routes(0).DebugString(), created.DebugString());

  fwd::v1::Route ignored;
  grpc::Status dup = admin_->CreateRoute(admin().get(), create, &ignored);
  EXPECT_EQ(dup.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(dup.error_message(), "route \"chat\" already exists");
  create.mutable_route()->set_name("other");
  create.mutable_route()->add_upstreams("ghost");
  grpc::Status missing = admin_->CreateRoute(admin().get(), create, &ignored);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(missing.error_message(),
            "route \"other\": upstream \"ghost\" does not exist (see fwdctl upstream list)");
  create.mutable_route()->clear_path_prefix();
  create.mutable_route()->clear_models();
  grpc::Status everything = admin_->CreateRoute(admin().get(), create, &ignored);
  EXPECT_EQ(everything.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  fwd::v1::UpdateRouteRequest update;
  update.mutable_route()->set_name("chat");
  update.mutable_route()->set_strategy(fwd::v1::BALANCE_STRATEGY_WEIGHTED);
  update.mutable_route()->mutable_retry()->set_retries(2);
  update.mutable_route()->mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_5XX);
  update.mutable_route()->set_priority(500);  // not in the mask
  update.mutable_update_mask()->add_paths("strategy");
  update.mutable_update_mask()->add_paths("retry");
  fwd::v1::Route updated;
  s = admin_->UpdateRoute(admin().get(), update, &updated);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(updated.strategy(), fwd::v1::BALANCE_STRATEGY_WEIGHTED);
  EXPECT_EQ(updated.retry().retries(), 2u);
  EXPECT_EQ(updated.priority(), 0);
  EXPECT_EQ(updated.upstreams_size(), 2);
  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("path_prefix");
  update.mutable_route()->set_path_prefix("/v1");
  grpc::Status bad_prefix = admin_->UpdateRoute(admin().get(), update, &updated);
  EXPECT_EQ(bad_prefix.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad_prefix.error_message().rfind("route.path_prefix \"/v1\"", 0), 0u);
  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("name");
  EXPECT_EQ(admin_->UpdateRoute(admin().get(), update, &updated).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  fwd::v1::GetRouteRequest get;
  get.set_name("chat");
  fwd::v1::Route got;
  ASSERT_TRUE(admin_->GetRoute(admin().get(), get, &got).ok());
  EXPECT_EQ(got.path_prefix(), "/team-a");
  EXPECT_EQ(got.strategy(), fwd::v1::BALANCE_STRATEGY_WEIGHTED);
  fwd::v1::ListRoutesResponse list;
  ASSERT_TRUE(admin_->ListRoutes(admin().get(), {}, &list).ok());
  ASSERT_EQ(list.routes_size(), 1);
  EXPECT_EQ(list.routes(0).DebugString(), got.DebugString());

  fwd::v1::DeleteUpstreamRequest del_upstream;
  del_upstream.set_name("backup");
  fwd::v1::DeleteUpstreamResponse upstream_deleted;
  grpc::Status in_use = admin_->DeleteUpstream(admin().get(), del_upstream, &upstream_deleted);
  EXPECT_EQ(in_use.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(in_use.error_message(),
            "upstream \"backup\" is used by route \"chat\": remove it from the route first");

  const std::uint64_t before = status().version();
  fwd::v1::DeleteRouteRequest del;
  del.set_name("chat");
  fwd::v1::DeleteRouteResponse deleted;
  ASSERT_TRUE(admin_->DeleteRoute(admin().get(), del, &deleted).ok());
  EXPECT_EQ(deleted.version(), before + 1);
  EXPECT_EQ(hub_.current()->version(), deleted.version());
  EXPECT_EQ(hub_.current()->routes_size(), 0);
  grpc::Status gone = admin_->GetRoute(admin().get(), get, &got);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(gone.error_message(), "route \"chat\" not found");
  EXPECT_TRUE(admin_->DeleteUpstream(admin().get(), del_upstream, &upstream_deleted).ok());
}

TEST_F(ServiceTest, NewUpstreamAndRouteFieldsReachTheSnapshot) {
  // Deny list, fine timeouts, outlier detection, health check, route timeouts, backoff and an
  // explicit zero-retry policy go through create/get/list/update and into the snapshot; a bad
  // combination is refused without a write.
  fwd::v1::CreateUpstreamRequest create;
  fwd::v1::Upstream* u = create.mutable_upstream();
  u->set_name("vllm");
  u->set_base_url("http://127.0.0.1:9/v1");
  u->add_models("llama*");
  u->add_deny_models("llama-guard*");
  u->mutable_connect_timeout()->set_seconds(2);
  u->mutable_first_byte_timeout()->set_seconds(120);
  u->mutable_stream_first_byte_timeout()->set_seconds(20);
  u->mutable_idle_timeout()->set_seconds(30);
  u->mutable_outlier_detection()->set_consecutive_failures(3);
  u->mutable_outlier_detection()->mutable_base_ejection_time()->set_seconds(10);
  u->mutable_health_check()->set_path("/health");
  fwd::v1::Upstream created;
  grpc::Status s = admin_->CreateUpstream(admin().get(), create, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(created.deny_models(0), "llama-guard*");
  EXPECT_EQ(created.stream_first_byte_timeout().seconds(), 20);
  EXPECT_EQ(created.outlier_detection().consecutive_failures(), 3u);
  EXPECT_FALSE(created.outlier_detection().has_max_ejection_time());
  EXPECT_EQ(created.health_check().path(), "/health");
  EXPECT_FALSE(created.health_check().has_interval());

  fwd::v1::GetUpstreamRequest get;
  get.set_name("vllm");
  fwd::v1::Upstream got;
  ASSERT_TRUE(admin_->GetUpstream(admin().get(), get, &got).ok());
  got.clear_health();  // Get and List add the (empty) health summary of the data planes
  EXPECT_EQ(got.DebugString(), created.DebugString());
  fwd::v1::ListUpstreamsResponse list;
  ASSERT_TRUE(admin_->ListUpstreams(admin().get(), {}, &list).ok());
  ASSERT_EQ(list.upstreams_size(), 1);
  list.mutable_upstreams(0)->clear_health();
  EXPECT_EQ(list.upstreams(0).DebugString(), created.DebugString());
  ASSERT_EQ(hub_.current()->upstreams_size(), 1);
  EXPECT_EQ(hub_.current()->upstreams(0).DebugString(), created.DebugString());

  fwd::v1::UpdateUpstreamRequest update;
  update.mutable_upstream()->set_name("vllm");
  update.mutable_upstream()->mutable_outlier_detection()->set_disabled(true);
  update.mutable_update_mask()->add_paths("outlier_detection.disabled");
  update.mutable_update_mask()->add_paths("health_check");  // unset in the patch: removed
  update.mutable_update_mask()->add_paths("idle_timeout");  // likewise
  fwd::v1::Upstream updated;
  s = admin_->UpdateUpstream(admin().get(), update, &updated);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(updated.outlier_detection().disabled());
  EXPECT_EQ(updated.outlier_detection().consecutive_failures(), 3u);
  EXPECT_FALSE(updated.has_health_check());
  EXPECT_FALSE(updated.has_idle_timeout());
  EXPECT_EQ(hub_.current()->upstreams(0).DebugString(), updated.DebugString());

  const std::uint64_t before = status().version();
  update.Clear();
  update.mutable_upstream()->set_name("vllm");
  update.mutable_upstream()->mutable_timeout()->set_seconds(60);
  update.mutable_update_mask()->add_paths("timeout");
  s = admin_->UpdateUpstream(admin().get(), update, &updated);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "upstream.first_byte_timeout 2m: must not be longer than upstream.timeout (1m)");
  EXPECT_EQ(status().version(), before);

  fwd::v1::CreateRouteRequest route;
  route.mutable_route()->set_name("local");
  route.mutable_route()->set_path_prefix("/local");
  route.mutable_route()->add_upstreams("vllm");
  route.mutable_route()->mutable_retry()->set_retries(0);
  route.mutable_route()->mutable_timeouts()->mutable_total()->set_seconds(45);
  fwd::v1::Route created_route;
  s = admin_->CreateRoute(admin().get(), route, &created_route);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(created_route.has_retry());
  EXPECT_EQ(created_route.timeouts().total().seconds(), 45);
  ASSERT_EQ(hub_.current()->routes_size(), 1);
  EXPECT_TRUE(hub_.current()->routes(0).has_retry());
  EXPECT_EQ(hub_.current()->routes(0).retry().retries(), 0u);

  fwd::v1::UpdateRouteRequest route_update;
  route_update.mutable_route()->set_name("local");
  route_update.mutable_route()->mutable_retry()->mutable_backoff_max()->set_seconds(2);
  route_update.mutable_update_mask()->add_paths("retry.backoff_max");
  route_update.mutable_update_mask()->add_paths("timeouts");
  fwd::v1::Route updated_route;
  s = admin_->UpdateRoute(admin().get(), route_update, &updated_route);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(updated_route.retry().backoff_max().seconds(), 2);
  EXPECT_FALSE(updated_route.has_timeouts());
  EXPECT_EQ(hub_.current()->routes(0).DebugString(), updated_route.DebugString());
}

TEST_F(ServiceTest, RouteCallsNeedTheAdminTokenAndKnownFields) {
  // Route RPCs are authenticated like the rest, and a route field from a newer fwdctl is
  // refused without a write.
  fwd::v1::ListRoutesResponse list;
  EXPECT_EQ(admin_->ListRoutes(contextWith(node_token_).get(), {}, &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  createUpstream("a");
  const std::uint64_t before = status().version();
  fwd::v1::CreateRouteRequest request;
  request.mutable_route()->set_name("r");
  request.mutable_route()->set_path_prefix("/r");
  request.mutable_route()->add_upstreams("a");
  fwd::v1::RetryPolicy* retry = request.mutable_route()->mutable_retry();
  retry->GetReflection()->MutableUnknownFields(retry)->AddVarint(3, 1);
  fwd::v1::Route response;
  grpc::Status s = admin_->CreateRoute(admin().get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "request has fields this control plane does not know (field numbers "
            "route.retry.3): upgrade fwd-controlplane");
  EXPECT_EQ(status().version(), before);
}

TEST_F(ServiceTest, WatchSendsCurrentSnapshotThenEachWrite) {
  // After hello the node gets the current snapshot at once, and a write reaches it within 1 s.
  createUpstream("a");
  auto context = contextWith(node_token_);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::unique_ptr<WatchStream> stream = openWatch(*context, "dp-1", 0);
  fwd::v1::WatchResponse first;
  ASSERT_TRUE(stream->Read(&first));
  EXPECT_EQ(first.snapshot().version(), 1u);
  ASSERT_EQ(first.snapshot().upstreams_size(), 1);
  EXPECT_EQ(first.snapshot().upstreams(0).api_key(), "sk-test-0123456789");

  const auto written = steady_clock::now();
  createUpstream("b");
  fwd::v1::WatchResponse second;
  ASSERT_TRUE(stream->Read(&second));
  EXPECT_LT(steady_clock::now() - written, std::chrono::seconds(1));
  EXPECT_EQ(second.snapshot().version(), 2u);
  EXPECT_EQ(second.snapshot().upstreams_size(), 2);
  EXPECT_TRUE(waitForNode(
      "dp-1", [](const auto& n) { return n.connected(); }, "connected"));
  context->TryCancel();
}

TEST_F(ServiceTest, GetKeyLimitsAsksEveryNodeThatAnswersQueriesAndWaitsForTheirAnswers) {
  fwd::v1::CreateKeyRequest create;
  create.set_name("alice");
  fwd::v1::CreateKeyResponse created;
  ASSERT_TRUE(admin_->CreateKey(admin().get(), create, &created).ok());
  // dp-1 answers; dp-2 (an older build) does not say it answers and is not asked; dp-3 says it
  // does but stays silent.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (const char* node : {"dp-1", "dp-2", "dp-3"}) {
    contexts.push_back(contextWith(node_token_));
    streams.push_back(openWatch(*contexts.back(), node, 0, std::string(node) != "dp-2"));
    EXPECT_TRUE(waitForNode(
        node, [](const auto& n) { return n.connected(); }, "connected"));
  }
  auto asked = std::async(std::launch::async, [&] {
    fwd::v1::GetKeyLimitsRequest request;
    request.set_name("alice");
    fwd::v1::GetKeyLimitsResponse response;
    grpc::Status s = admin_->GetKeyLimits(admin().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  });
  fwd::v1::WatchResponse query;
  do {
    ASSERT_TRUE(streams[0]->Read(&query));
  } while (!query.has_limits_query());
  EXPECT_EQ(query.limits_query().key_id(), created.key().id());
  fwd::v1::WatchRequest answer;
  answer.mutable_limits_answer()->set_id(query.limits_query().id());
  answer.mutable_limits_answer()->set_key_known(true);
  answer.mutable_limits_answer()->mutable_state()->set_source("memory");
  answer.mutable_limits_answer()->mutable_state()->add_requests()->set_used(2);
  // The same id answered on another stream is not taken for dp-1's.
  fwd::v1::WatchRequest forged = answer;
  forged.mutable_limits_answer()->mutable_state()->mutable_requests(0)->set_used(99);
  ASSERT_TRUE(streams[2]->Write(forged));
  ASSERT_TRUE(streams[0]->Write(answer));

  fwd::v1::GetKeyLimitsResponse response = asked.get();
  ASSERT_EQ(response.nodes_size(), 2) << response.DebugString();
  EXPECT_EQ(response.nodes(0).node_id(), "dp-1");
  EXPECT_EQ(response.nodes(0).state().requests(0).used(), 2u);
  EXPECT_EQ(response.nodes(1).node_id(), "dp-3");
  EXPECT_FALSE(response.nodes(1).has_state());
  EXPECT_EQ(response.nodes(1).error(), "did not answer in time");

  fwd::v1::GetKeyLimitsRequest unknown;
  unknown.set_name("nobody");
  fwd::v1::GetKeyLimitsResponse none;
  EXPECT_EQ(admin_->GetKeyLimits(admin().get(), unknown, &none).error_code(),
            grpc::StatusCode::NOT_FOUND);
  for (auto& c : contexts) {
    c->TryCancel();
  }
}

TEST_F(ServiceTest, DataPlanesPushRecordsThatAreStoredOnceAndAcked) {
  auto record = [](const std::string& id) {
    fwd::v1::Record r;
    r.set_id(id);
    r.mutable_time()->set_seconds(1'796'085'000);  // 2026-12-01T00:30:00Z
    r.set_key_name("alice");
    r.set_model("gpt-4o");
    r.set_status(200);
    r.set_prompt_tokens(10);
    return r;
  };
  {
    // The admin token is not a node's.
    auto context = contextWith(admin_token_);
    auto stream = records_stub_->Push(context.get());
    fwd::v1::RecordAck ack;
    EXPECT_FALSE(stream->Read(&ack));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  auto context = contextWith(node_token_);
  auto stream = records_stub_->Push(context.get());
  fwd::v1::RecordBatch batch;
  batch.set_seq(1);
  batch.set_node_id("dp-1");  // for the records that name no node of their own
  *batch.add_records() = record("r1");
  *batch.add_records() = record("r2");
  batch.mutable_records(1)->set_node_id("dp-2");
  batch.mutable_records(0)->set_request_body("{\"messages\":[]}");
  batch.mutable_records(0)->set_response_body("{\"choices\":[]}");
  ASSERT_TRUE(stream->Write(batch));
  fwd::v1::RecordAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.seq(), 1u);
  EXPECT_EQ(ack.stored(), 2u);
  // Sent again (no ack seen before a reconnect): acked, nothing stored twice.
  batch.set_seq(2);
  *batch.add_records() = record("r3");
  ASSERT_TRUE(stream->Write(batch));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.seq(), 2u);
  EXPECT_EQ(ack.stored(), 1u);
  // A record without an id ends the stream.
  fwd::v1::RecordBatch bad;
  bad.add_records()->set_key_name("x");
  ASSERT_TRUE(stream->Write(bad));
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto stored = records_->recent(records::Query());
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 3u);
  std::map<std::string, std::string> nodes;
  for (const fwd::v1::Record& r : *stored) {
    nodes[r.id()] = r.node_id();
  }
  EXPECT_EQ(nodes,
            (std::map<std::string, std::string>{{"r1", "dp-1"}, {"r2", "dp-2"}, {"r3", "dp-1"}}));

  // fwdctl usage reads them back, added up.
  fwd::v1::GetUsageRequest usage;
  usage.set_group_by("key");
  fwd::v1::GetUsageResponse rows;
  grpc::Status s = admin_->GetUsage(admin().get(), usage, &rows);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(rows.rows_size(), 1);
  EXPECT_EQ(rows.rows(0).group(), "alice");
  EXPECT_EQ(rows.rows(0).requests(), 3u);
  EXPECT_EQ(rows.rows(0).prompt_tokens(), 30u);
  usage.mutable_filter()->mutable_from()->set_seconds(1'796'085'001);  // after them
  rows.Clear();
  ASSERT_TRUE(admin_->GetUsage(admin().get(), usage, &rows).ok());
  EXPECT_EQ(rows.rows_size(), 0);
  usage.set_group_by("week");
  s = admin_->GetUsage(admin().get(), usage, &rows);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "group_by \"week\": must be key, model, upstream, day or hour (or empty)");
  usage.set_group_by("");
  usage.mutable_filter()->set_status_class(7);
  s = admin_->GetUsage(admin().get(), usage, &rows);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // fwdctl logs: the newest first, at most `limit`.
  fwd::v1::ListRecordsRequest list;
  list.set_limit(2);
  fwd::v1::ListRecordsResponse listed;
  s = admin_->ListRecords(admin().get(), list, &listed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(listed.records_size(), 2);
  list.set_limit(10'001);
  EXPECT_EQ(admin_->ListRecords(admin().get(), list, &listed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Bodies only when asked for, and then at most 100 records a call.
  list.set_limit(10);
  listed.Clear();
  ASSERT_TRUE(admin_->ListRecords(admin().get(), list, &listed).ok());
  for (const fwd::v1::Record& r : listed.records()) {
    EXPECT_TRUE(r.request_body().empty() && r.response_body().empty()) << r.id();
  }
  list.set_include_bodies(true);
  listed.Clear();
  ASSERT_TRUE(admin_->ListRecords(admin().get(), list, &listed).ok());
  std::map<std::string, std::string> bodies;
  for (const fwd::v1::Record& r : listed.records()) {
    bodies[r.id()] = r.request_body() + r.response_body();
  }
  EXPECT_EQ(bodies, (std::map<std::string, std::string>{
                        {"r1", "{\"messages\":[]}{\"choices\":[]}"}, {"r2", ""}, {"r3", ""}}));
  list.set_limit(101);
  s = admin_->ListRecords(admin().get(), list, &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "limit: at most 100 with include_bodies, got 101");
  // Node tokens do not read records.
  EXPECT_EQ(admin_->GetUsage(contextWith(node_token_).get(), fwd::v1::GetUsageRequest(), &rows)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ServiceTest, NodeAlreadyCurrentGetsOnlyNewerVersions) {
  // A hello with the current version is not answered with that version again.
  createUpstream("a");
  auto context = contextWith(node_token_);
  std::unique_ptr<WatchStream> stream = openWatch(*context, "dp-1", 1);
  EXPECT_TRUE(waitForNode(
      "dp-1", [](const auto& n) { return n.connected(); }, "connected"));
  createUpstream("b");
  fwd::v1::WatchResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.snapshot().version(), 2u);
  context->TryCancel();
}

TEST_F(ServiceTest, NackShowsInStatusUntilNewerAck) {
  // A nack sets last_error in GetStatus; an ack of a newer version clears it; a cancelled
  // stream turns connected off.
  auto context = contextWith(node_token_);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::unique_ptr<WatchStream> stream = openWatch(*context, "dp-1", 0);
  fwd::v1::WatchResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.snapshot().version(), 0u);

  createUpstream("a");
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_EQ(response.snapshot().version(), 1u);
  fwd::v1::WatchRequest nack;
  nack.mutable_nack()->set_version(1);
  nack.mutable_nack()->set_reason("upstream \"a\": environment variable X is not set");
  ASSERT_TRUE(stream->Write(nack));
  EXPECT_TRUE(waitForNode(
      "dp-1",
      [](const auto& n) {
        return n.last_error() == "upstream \"a\": environment variable X is not set" &&
               n.last_nack_version() == 1;
      },
      "the nack"));

  createUpstream("b");
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_EQ(response.snapshot().version(), 2u);
  fwd::v1::WatchRequest ack;
  ack.mutable_ack()->set_version(2);
  ASSERT_TRUE(stream->Write(ack));
  EXPECT_TRUE(waitForNode(
      "dp-1", [](const auto& n) { return n.last_error().empty() && n.applied_version() == 2; },
      "the ack"));

  context->TryCancel();
  EXPECT_TRUE(waitForNode(
      "dp-1", [](const auto& n) { return !n.connected(); }, "disconnect"));
}

TEST_F(ServiceTest, ReportsShowInUpstreamsAndStatusWhileTheNodeIsConnected) {
  // Reports on the Watch stream fill Upstream.health (ListUpstreams, GetUpstream) summed over
  // connected nodes and DataPlaneStatus.upstreams; an unknown name makes no upstream; a node's
  // share of the summary goes when its stream ends.
  createUpstream("a");
  createUpstream("b");
  auto send = [](WatchStream& stream, std::initializer_list<fwd::v1::UpstreamState> states) {
    fwd::v1::WatchRequest request;
    for (const auto& s : states) {
      *request.mutable_report()->add_upstreams() = s;
    }
    return stream.Write(request);
  };
  fwd::v1::UpstreamState a_ejected;
  a_ejected.set_name("a");
  a_ejected.set_ejected(true);
  a_ejected.set_ejections(2);
  a_ejected.mutable_ejection_left()->set_seconds(60);
  fwd::v1::UpstreamState b_fine;
  b_fine.set_name("b");
  fwd::v1::UpstreamState ghost;
  ghost.set_name("ghost");
  ghost.set_ejected(true);
  fwd::v1::UpstreamState a_fine;
  a_fine.set_name("a");
  a_fine.set_ejections(1);

  auto context1 = contextWith(node_token_);
  std::unique_ptr<WatchStream> dp1 = openWatch(*context1, "dp-1", 0);
  ASSERT_TRUE(send(*dp1, {a_ejected, b_fine, ghost}));
  auto context2 = contextWith(node_token_);
  std::unique_ptr<WatchStream> dp2 = openWatch(*context2, "dp-2", 0);
  ASSERT_TRUE(send(*dp2, {a_fine}));
  ASSERT_TRUE(waitForNode(
      "dp-1", [](const auto& n) { return n.upstreams_size() == 3; }, "its report"));
  ASSERT_TRUE(waitForNode(
      "dp-2", [](const auto& n) { return n.upstreams_size() == 1; }, "its report"));

  const fwd::v1::GetStatusResponse current = status();
  ASSERT_EQ(current.dataplanes_size(), 2);
  const fwd::v1::UpstreamState& shown = current.dataplanes(0).upstreams(0);
  EXPECT_EQ(shown.name(), "a");
  EXPECT_TRUE(shown.ejected());
  EXPECT_EQ(shown.ejections(), 2u);
  EXPECT_GT(shown.ejection_left().seconds(), 50);
  EXPECT_EQ(current.dataplanes(0).upstreams(2).name(), "ghost");

  fwd::v1::ListUpstreamsResponse list;
  ASSERT_TRUE(admin_->ListUpstreams(admin().get(), {}, &list).ok());
  ASSERT_EQ(list.upstreams_size(), 2);
  EXPECT_EQ(list.upstreams(0).name(), "a");
  EXPECT_EQ(list.upstreams(0).health().ShortDebugString(),
            "nodes_reporting: 2 nodes_ejected: 1 ejections: 3");
  EXPECT_EQ(list.upstreams(1).health().ShortDebugString(), "nodes_reporting: 1");
  fwd::v1::GetUpstreamRequest get;
  get.set_name("a");
  fwd::v1::Upstream got;
  ASSERT_TRUE(admin_->GetUpstream(admin().get(), get, &got).ok());
  EXPECT_EQ(got.health().nodes_reporting(), 2u);
  EXPECT_EQ(got.health().nodes_ejected(), 1u);

  context1->TryCancel();
  ASSERT_TRUE(waitForNode(
      "dp-1", [](const auto& n) { return !n.connected() && n.upstreams_size() == 0; },
      "disconnect"));
  ASSERT_TRUE(admin_->GetUpstream(admin().get(), get, &got).ok());
  EXPECT_EQ(got.health().ShortDebugString(), "nodes_reporting: 1 ejections: 1");
  context2->TryCancel();
  ASSERT_TRUE(waitForNode(
      "dp-2", [](const auto& n) { return !n.connected(); }, "disconnect"));
  list.Clear();
  ASSERT_TRUE(admin_->ListUpstreams(admin().get(), {}, &list).ok());
  for (const fwd::v1::Upstream& u : list.upstreams()) {
    EXPECT_TRUE(u.has_health()) << u.name();
    EXPECT_EQ(u.health().nodes_reporting(), 0u) << u.name();
  }
}

TEST_F(ServiceTest, WatchMustStartWithHello) {
  // An ack before hello, or a hello without node_id, ends the stream with INVALID_ARGUMENT.
  for (bool send_ack : {true, false}) {
    auto context = contextWith(node_token_);
    std::unique_ptr<WatchStream> stream = watch_->Watch(context.get());
    fwd::v1::WatchRequest first;
    if (send_ack) {
      first.mutable_ack()->set_version(1);
    } else {
      first.mutable_hello()->set_node_id("");
    }
    ASSERT_TRUE(stream->Write(first));
    fwd::v1::WatchResponse response;
    EXPECT_FALSE(stream->Read(&response));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_F(ServiceTest, ShutdownEndsWatchStreamsPromptly) {
  // Open streams do not hold up shutdown: it completes well within the grace period.
  auto context = contextWith(node_token_);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  std::unique_ptr<WatchStream> stream = openWatch(*context, "dp-1", 0);
  fwd::v1::WatchResponse response;
  ASSERT_TRUE(stream->Read(&response));
  const auto start = steady_clock::now();
  server_->shutdown(std::chrono::seconds(10));
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_FALSE(stream->Finish().ok());
}

}  // namespace
}  // namespace fwd::controlplane::service
