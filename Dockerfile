# syntax=docker/dockerfile:1
# coin-predict: one image with every service and tool (coin-ingest,
# coin-publish, coin-monitor, coin-train, coinctl, coin-replay-exchange) and
# the web page. Multi-stage: Debian bookworm builds, bookworm-slim runs, as
# the non-root user coin (uid 10001). Pick the program with the command:
#   docker run IMAGE coin-ingest        (configured by environment variables)
# Build: docker build --build-arg GIT_REVISION=$(git rev-parse --short HEAD) -t coin-predict .

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libnats-dev libcurl4-openssl-dev libmsgpack-dev \
      libprotobuf-c-dev protobuf-c-compiler \
      libjansson-dev libmicrohttpd-dev libssl-dev libxgboost-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY proto/ proto/
COPY lib/ lib/
COPY services/ services/
COPY tools/ tools/
COPY tests/ tests/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build -j"$(nproc)" --target \
      coin-ingest coin-publish coin-monitor coin-train coinctl coin-replay-exchange \
 && strip --strip-debug build/bin/*

FROM debian:bookworm-slim
ARG GIT_REVISION=unknown
LABEL org.opencontainers.image.title="coin-predict" \
      org.opencontainers.image.description="Crypto candles, next-candle predictions and honest freshness as a static site" \
      org.opencontainers.image.revision="${GIT_REVISION}"
# Runtime libraries only (curl: the probes of compose; ca-certificates: TLS
# to the exchange, NATS and InfluxDB).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl \
      libnats3.4 libcurl4 libmsgpackc2 libprotobuf-c1 \
      libjansson4 libmicrohttpd12 libssl3 libxgboost0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 coin \
 && useradd --system --uid 10001 --gid coin --home-dir /var/lib/coin \
      --shell /usr/sbin/nologin coin \
 && mkdir -p /var/lib/coin/site \
 && chown -R coin:coin /var/lib/coin
COPY --from=build /src/build/bin/ /usr/local/bin/
COPY web/ /usr/share/coin/web/
COPY deploy/docker/coin-install-web /usr/local/bin/coin-install-web
ENV STATIC_DATA_DIR=/var/lib/coin/site \
    COIN_GIT_REVISION=${GIT_REVISION}
WORKDIR /var/lib/coin
USER 10001:10001
CMD ["coin-ingest"]
