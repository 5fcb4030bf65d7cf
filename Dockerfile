# Build stage: compile TypeScript with the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev

# Runtime stage: the compiled service and production dependencies, run as the unprivileged node user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/src/dashboard/assets ./src/dashboard/assets
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
# The heap limits keep the peak RSS under about 200 MB (bench/RESULTS.md); keep them equal to
# the ones of `npm run start:prod`.
CMD ["node", "--max-old-space-size=144", "--max-semi-space-size=32", "dist/src/main.js"]
