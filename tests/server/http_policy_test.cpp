#include "server/http_policy.hpp"

#include <catch2/catch.hpp>

using namespace srcgate::server;

namespace {

RangeDecision partial(std::uint64_t first, std::uint64_t last) {
  return {RangeDecision::partial, {first, last}};
}
const RangeDecision kFull{};
const RangeDecision kUnsatisfiable{RangeDecision::unsatisfiable, {}};

}  // namespace

// ---- Range: each case changes one thing about a 31-byte file (ipfs-gateway.md §1.6).

TEST_CASE("a single closed range is served as 206 with that range", "[policy][range]") {
  CHECK(evaluate_range("bytes=6-16", 31) == partial(6, 16));
  CHECK(content_range({6, 16}, 31) == "bytes 6-16/31");
  CHECK(ByteRange{6, 16}.length() == 11);
}

TEST_CASE("a suffix range is the last n bytes", "[policy][range]") {
  CHECK(evaluate_range("bytes=-3", 31) == partial(28, 30));
  CHECK(content_range({28, 30}, 31) == "bytes 28-30/31");
  CHECK(evaluate_range("bytes=-31", 31) == partial(0, 30));
  CHECK(evaluate_range("bytes=-1000", 31) == partial(0, 30));
}

TEST_CASE("an open range runs to the end and a long last offset is clamped", "[policy][range]") {
  CHECK(evaluate_range("bytes=30-", 31) == partial(30, 30));
  CHECK(evaluate_range("bytes=0-", 31) == partial(0, 30));
  CHECK(evaluate_range("bytes=10-1000", 31) == partial(10, 30));
  CHECK(evaluate_range("bytes=0-99999999999999999999999", 31) == partial(0, 30));
}

TEST_CASE("several ranges: the first satisfiable one is served alone", "[policy][range]") {
  CHECK(evaluate_range("bytes=6-16,0-4", 31) == partial(6, 16));
  CHECK(evaluate_range("bytes=100-200, 2-3", 31) == partial(2, 3));
  CHECK(evaluate_range("bytes= 1-2 ,\t5-6", 31) == partial(1, 2));
}

TEST_CASE("a range that starts at or past the end is 416", "[policy][range]") {
  CHECK(evaluate_range("bytes=31-", 31) == kUnsatisfiable);
  CHECK(evaluate_range("bytes=31-40", 31) == kUnsatisfiable);
  CHECK(evaluate_range("bytes=-0", 31) == kUnsatisfiable);
  CHECK(evaluate_range("bytes=40-50,60-", 31) == kUnsatisfiable);
  CHECK(evaluate_range("bytes=99999999999999999999999-", 31) == kUnsatisfiable);
  CHECK(unsatisfied_content_range(31) == "bytes */31");
}

TEST_CASE("an empty representation satisfies no range", "[policy][range]") {
  CHECK(evaluate_range("bytes=0-", 0) == kUnsatisfiable);
  CHECK(evaluate_range("bytes=-5", 0) == kUnsatisfiable);
}

TEST_CASE("a Range header that is not valid bytes ranges is ignored", "[policy][range]") {
  CHECK(evaluate_range("", 31) == kFull);
  CHECK(evaluate_range("items=0-5", 31) == kFull);
  CHECK(evaluate_range("bytes", 31) == kFull);
  CHECK(evaluate_range("bytes=", 31) == kFull);
  CHECK(evaluate_range("bytes=5", 31) == kFull);
  CHECK(evaluate_range("bytes=16-6", 31) == kFull);
  CHECK(evaluate_range("bytes=a-b", 31) == kFull);
  CHECK(evaluate_range("bytes=-", 31) == kFull);
  CHECK(evaluate_range("bytes=+1-2", 31) == kFull);
  CHECK(evaluate_range("bytes=0-1,x", 31) == kFull);
  CHECK(evaluate_range("bytes=- 3", 31) == kFull);
}

TEST_CASE("the range unit is case-insensitive", "[policy][range]") {
  CHECK(evaluate_range("Bytes=1-2", 31) == partial(1, 2));
  CHECK(evaluate_range("BYTES = 1-2", 31) == partial(1, 2));
}

TEST_CASE("the ranges of the file with a missing block", "[policy][range]") {
  CHECK(evaluate_range("bytes=997-1000", 3072) == partial(997, 1000));
  CHECK(evaluate_range("bytes=2200-2201", 3072) == partial(2200, 2201));
}

TEST_CASE("If-Range allows the range only for the same strong tag", "[policy][range]") {
  CHECK(if_range_allows("", "\"abc\""));
  CHECK(if_range_allows("\"abc\"", "\"abc\""));
  CHECK_FALSE(if_range_allows("\"abd\"", "\"abc\""));
  CHECK_FALSE(if_range_allows("W/\"abc\"", "\"abc\""));
  CHECK_FALSE(if_range_allows("\"abc\"", "W/\"abc\""));
  CHECK_FALSE(if_range_allows("Wed, 21 Oct 2015 07:28:00 GMT", "\"abc\""));
}

// ---- If-None-Match (ipfs-gateway.md §4.5 item 2).

TEST_CASE("If-None-Match matches the exact strong tag", "[policy][etag]") {
  const std::string etag = make_etag("bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am");
  CHECK(etag == "\"bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am\"");
  CHECK(if_none_match(etag, etag));
  CHECK_FALSE(
      if_none_match("\"bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6aa\"", etag));
}

TEST_CASE("If-None-Match uses the weak comparison", "[policy][etag]") {
  CHECK(if_none_match("W/\"abc\"", "\"abc\""));
  CHECK(if_none_match("\"abc\"", "W/\"abc\""));
  CHECK(if_none_match("W/\"abc\"", "W/\"abc\""));
  CHECK(make_etag("x.car", true) == "W/\"x.car\"");
}

TEST_CASE("If-None-Match: * matches any current representation", "[policy][etag]") {
  CHECK(if_none_match("*", "\"abc\""));
  CHECK(if_none_match(" * ", "\"abc\""));
}

TEST_CASE("If-None-Match lists match on any element, the third included", "[policy][etag]") {
  CHECK(if_none_match("\"a\", \"b\", \"abc\"", "\"abc\""));
  CHECK(if_none_match("\"a\",W/\"abc\"", "\"abc\""));
  CHECK(if_none_match("\"a,b\", \"abc\"", "\"abc\""));  // ',' inside a quoted tag
  CHECK_FALSE(if_none_match("\"a\", \"b\", \"c\"", "\"abc\""));
  CHECK_FALSE(if_none_match("\"a,abc\"", "\"abc\""));
}

TEST_CASE("If-None-Match: empty or malformed headers do not match", "[policy][etag]") {
  CHECK_FALSE(if_none_match("", "\"abc\""));
  CHECK_FALSE(if_none_match("abc", "\"abc\""));
  CHECK_FALSE(if_none_match("\"abc", "\"abc\""));
  CHECK_FALSE(if_none_match("\"x\" junk, \"abc\"", "\"abc\""));
}

// ---- Format negotiation.

TEST_CASE("no format and no gateway type in Accept: the implicit response", "[policy][format]") {
  CHECK(negotiate_format({}, "") == Negotiation{});
  CHECK(negotiate_format({}, "text/html,application/xhtml+xml,*/*;q=0.8") == Negotiation{});
}

TEST_CASE("?format= chooses the format", "[policy][format]") {
  IpfsQuery q;
  q.format = ResponseFormat::raw;
  Negotiation expected;
  expected.format = ResponseFormat::raw;
  CHECK(negotiate_format(q, "") == expected);
}

TEST_CASE("Accept alone chooses the format and asks for Content-Location", "[policy][format]") {
  Negotiation expected;
  expected.format = ResponseFormat::raw;
  expected.from_accept = true;
  CHECK(negotiate_format({}, "application/vnd.ipld.raw") == expected);
  CHECK(negotiate_format({}, "text/html, application/vnd.ipld.raw;q=0.9") == expected);
  CHECK(negotiate_format({}, "Application/Vnd.Ipld.Raw") == expected);
}

TEST_CASE("?format= wins over Accept", "[policy][format]") {
  IpfsQuery q;
  q.format = ResponseFormat::raw;
  Negotiation expected;
  expected.format = ResponseFormat::raw;
  CHECK(negotiate_format(q, "application/vnd.ipld.car") == expected);
}

TEST_CASE("Accept q-values order the media ranges and q=0 excludes one", "[policy][format]") {
  Negotiation car;
  car.format = ResponseFormat::car;
  car.from_accept = true;
  CHECK(negotiate_format({}, "application/vnd.ipld.raw;q=0.5, application/vnd.ipld.car") == car);
  CHECK(negotiate_format({}, "application/vnd.ipld.raw;q=0, application/vnd.ipld.car;q=0.1") ==
        car);
  CHECK(negotiate_format({}, "application/vnd.ipld.raw;q=bad") == Negotiation{});
}

TEST_CASE("CAR parameters come from Accept", "[policy][format]") {
  Negotiation expected;
  expected.format = ResponseFormat::car;
  expected.from_accept = true;
  expected.car_order = CarOrder::dfs;
  expected.car_dups = true;
  CHECK(negotiate_format({}, "application/vnd.ipld.car; version=1; order=dfs; dups=y") == expected);
  expected.car_order = CarOrder::unk;
  expected.car_dups = false;
  CHECK(negotiate_format({}, "application/vnd.ipld.car;order=unk;dups=n") == expected);
}

TEST_CASE("?car-order and ?car-dups win over Accept's parameters", "[policy][format]") {
  IpfsQuery q;
  q.format = ResponseFormat::car;
  q.car_order = CarOrder::unk;
  q.car_dups = false;
  Negotiation expected;
  expected.format = ResponseFormat::car;
  expected.car_order = CarOrder::unk;
  expected.car_dups = false;
  CHECK(negotiate_format(q, "application/vnd.ipld.car; order=dfs; dups=y") == expected);
}

TEST_CASE("?format=car takes the CAR parameters it lacks from Accept", "[policy][format]") {
  IpfsQuery q;
  q.format = ResponseFormat::car;
  Negotiation expected;
  expected.format = ResponseFormat::car;
  expected.car_dups = true;
  CHECK(negotiate_format(q, "application/vnd.ipld.car; dups=y") == expected);
}

TEST_CASE("unsupported CAR parameters in Accept are an error", "[policy][format]") {
  CHECK_THAT(negotiate_format({}, "application/vnd.ipld.car; version=2").error,
             Catch::Matchers::Contains("version=1"));
  CHECK_THAT(negotiate_format({}, "application/vnd.ipld.car; order=bfs").error,
             Catch::Matchers::Contains("order 'bfs'"));
  CHECK_THAT(negotiate_format({}, "application/vnd.ipld.car; dups=maybe").error,
             Catch::Matchers::Contains("dups 'maybe'"));
  // ... unless another format was chosen
  IpfsQuery q;
  q.format = ResponseFormat::raw;
  CHECK(negotiate_format(q, "application/vnd.ipld.car; version=2").error.empty());
}

TEST_CASE("the CAR content type carries version, order and dups", "[policy][format]") {
  CHECK(car_content_type(CarOrder::dfs, false) ==
        "application/vnd.ipld.car; version=1; order=dfs; dups=n");
  CHECK(car_content_type(CarOrder::unk, true) ==
        "application/vnd.ipld.car; version=1; order=unk; dups=y");
}

// ---- Content-Disposition.

TEST_CASE("Content-Disposition without a filename", "[policy][disposition]") {
  CHECK(content_disposition(true, "") == "attachment");
  CHECK(content_disposition(false, "") == "inline");
}

TEST_CASE("Content-Disposition with an ASCII filename", "[policy][disposition]") {
  CHECK(content_disposition(true, "foobar.bin") == "attachment; filename=\"foobar.bin\"");
  CHECK(content_disposition(false, "a b.txt") == "inline; filename=\"a b.txt\"");
  CHECK(content_disposition(true, "say \"hi\"\\.txt") ==
        "attachment; filename=\"say \\\"hi\\\"\\\\.txt\"");
}

TEST_CASE("Content-Disposition with a non-ASCII filename adds filename*", "[policy][disposition]") {
  // "€uro ä.txt" in UTF-8
  CHECK(content_disposition(true, "\xE2\x82\xACuro \xC3\xA4.txt") ==
        "attachment; filename=\"_uro _.txt\"; filename*=UTF-8''%E2%82%ACuro%20%C3%A4.txt");
  CHECK(content_disposition(false, "\xF0\x9F\x98\x80") ==
        "inline; filename=\"_\"; filename*=UTF-8''%F0%9F%98%80");
}

TEST_CASE("Content-Disposition never carries control characters", "[policy][disposition]") {
  const std::string cd = content_disposition(true, "a\r\nSet-Cookie: x=1");
  CHECK(
      cd ==
      "attachment; filename=\"a__Set-Cookie: x=1\"; filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D1");
  CHECK(cd.find('\r') == std::string::npos);
  CHECK(cd.find('\n') == std::string::npos);
}

// ---- Cache-Control.

TEST_CASE("the immutable Cache-Control value", "[policy][cache]") {
  CHECK(kImmutableCacheControl == "public, max-age=29030400, immutable");
}

TEST_CASE("only-if-cached is found anywhere in the request Cache-Control", "[policy][cache]") {
  CHECK(has_only_if_cached("only-if-cached"));
  CHECK(has_only_if_cached("max-age=0, Only-If-Cached"));
  CHECK(has_only_if_cached(" no-cache ,only-if-cached "));
  CHECK_FALSE(has_only_if_cached(""));
  CHECK_FALSE(has_only_if_cached("no-cache"));
  CHECK_FALSE(has_only_if_cached("only-if-cached-not"));
}

// ---- Admin token.

TEST_CASE("the admin bearer token must match exactly", "[policy][admin]") {
  CHECK(bearer_token_matches("Bearer s3cret", "s3cret"));
  CHECK(bearer_token_matches("bearer   s3cret ", "s3cret"));
  CHECK_FALSE(bearer_token_matches("Bearer s3cre", "s3cret"));
  CHECK_FALSE(bearer_token_matches("Bearer s3cretx", "s3cret"));
  CHECK_FALSE(bearer_token_matches("Bearer S3cret", "s3cret"));
  CHECK_FALSE(bearer_token_matches("Basic s3cret", "s3cret"));
  CHECK_FALSE(bearer_token_matches("s3cret", "s3cret"));
  CHECK_FALSE(bearer_token_matches("", "s3cret"));
  CHECK_FALSE(bearer_token_matches("Bearer ", ""));  // no token configured: disabled
}
