# The onnx-lrp CLI in a container (docs/scaling.md): `docker build -t onnx-lrp .`, then
#   docker run --rm -v "$PWD:/data" onnx-lrp audit /data/model.onnx /data/images --out /data/report
# Node 20 on Debian (glibc: onnxruntime-node's prebuilt CPU binaries need it; Alpine's musl does not fit).

# Build stage: the TypeScript sources compiled to dist/ (dev dependencies only here).
FROM node:20-bookworm-slim AS build
WORKDIR /src
# onnxruntime-node's install script would download CUDA libraries (linux/x64); its CPU binaries ship in the
# package. package.json's allowScripts denies it under npm >= 11.16; the node:20 image has an older npm, which
# ignores allowScripts: this variable (and --ignore-scripts, which also skips our own `prepare`) covers it.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY lib lib
COPY scripts scripts
# tsconfig.json also covers spec/ and examples/; without them here, tsc compiles lib/ and scripts/ only
RUN npx tsc -p tsconfig.json

# Run stage: production dependencies, the compiled library and CLI, the shipped models.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/lib dist/lib
COPY --from=build /src/dist/scripts dist/scripts
COPY models models
RUN chmod +x dist/scripts/cli.js && ln -s /app/dist/scripts/cli.js /usr/local/bin/onnx-lrp \
  && onnx-lrp --version && onnx-lrp audit --help > /dev/null
USER node
ENTRYPOINT ["onnx-lrp"]
CMD ["--help"]
