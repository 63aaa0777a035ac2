# syntax=docker/dockerfile:1
# The cdr-pipeline image: `node bin/cdr-pipeline.js run` against Kafka and a ClickHouse server
# (docker-compose.yml). The build stage compiles TypeScript to dist/; the runtime stage carries production
# dependencies, dist/, bin/ and schemas/ (the Avro schema and the DDL migrations are read at run time).
#
# Size and platform: chdb (embedded ClickHouse, ~550 MB) is a production dependency because
# sinks/clickhouse/connection.ts imports it (for the embedded mode) when the module loads, even in server
# mode. Its native library is published on npm for linux-x64 only (the arm64 and darwin packages chdb lists
# are not on the registry), so the image is linux/amd64; docker-compose.yml sets `platform` accordingly.
#
# npm: `npm ci` here is the base image's npm 10. npm 11 refuses this package-lock.json (it wants entries for
# chdb's unpublished optional platform packages); npm 10.8 installs from it as it is.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY schemas ./schemas
COPY ingest ./ingest
COPY enrich ./enrich
COPY sinks ./sinks
COPY pipeline ./pipeline
COPY reports ./reports
COPY operations ./operations
COPY porting ./porting
COPY care ./care
COPY simulators ./simulators
COPY tools ./tools
COPY cli ./cli
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY schemas ./schemas
# The report and aggregate SQL files (reports/<capability>/sql/) are read at run time, like the DDL.
COPY reports ./reports
# The reference-data service writes the demo population's reference files here (a named volume, which takes
# this folder's owner on first use), and reference-import reads them (docker-compose.yml).
RUN mkdir -p /data/reference && chown node:node /data/reference
USER node
# In a container the metrics endpoint must listen on all interfaces to be scraped; ClickHouse is a server.
ENV CDR_TELEMETRY_METRICS_HOST=0.0.0.0 \
    CDR_TELEMETRY_METRICS_PORT=9464 \
    CDR_CLICKHOUSE_MODE=server
# A larger young generation: fewer objects promoted and marked by the old-generation GC (docs/BENCHMARKS.md,
# "--max-semi-space-size=64, end to end": GC pauses on the main thread halved). V8 reads it only at start-up.
ENV NODE_OPTIONS=--max-semi-space-size=64
EXPOSE 9464
# node handles SIGTERM itself (cli/index.ts): flush, commit, leave the group, then exit.
CMD ["node", "bin/cdr-pipeline.js", "run"]
