// The Docker Engine API on the engine's socket (README.md here): what daemon.ts needs.
export { apiServer, looksLikeHttp, serveHttp } from './http.ts';
export { useSupervisor as useApiSupervisor } from './containers.ts';
