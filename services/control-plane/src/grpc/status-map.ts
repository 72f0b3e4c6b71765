// TP_ERR codes to gRPC status codes, in one place (the REST side maps them to HTTP in @turnpike/common).
import { status } from '@grpc/grpc-js';
import type { ErrorCode } from '@turnpike/common';

export function grpcStatusFor(code: ErrorCode | string): status {
  switch (code) {
    case 'TP_ERR_VALIDATION':
    case 'TP_ERR_BAD_JSON':
    case 'TP_ERR_BAD_REQUEST':
    case 'TP_ERR_BODY_TOO_LARGE':
      return status.INVALID_ARGUMENT;
    case 'TP_ERR_NOT_FOUND':
    case 'TP_ERR_ROUTE_NOT_FOUND':
      return status.NOT_FOUND;
    case 'TP_ERR_CONFLICT':
      return status.ALREADY_EXISTS;
    case 'TP_ERR_IN_USE':
      return status.ABORTED;
    case 'TP_ERR_UNPROCESSABLE':
    case 'TP_ERR_PRECONDITION_FAILED':
      return status.FAILED_PRECONDITION;
    case 'TP_ERR_AUTH_REQUIRED':
    case 'TP_ERR_AUTH_TOKEN_INVALID':
    case 'TP_ERR_AUTH_KEY_MISSING':
    case 'TP_ERR_AUTH_KEY_INVALID':
      return status.UNAUTHENTICATED;
    case 'TP_ERR_FORBIDDEN':
      return status.PERMISSION_DENIED;
    case 'TP_ERR_RATE_LIMITED':
      return status.RESOURCE_EXHAUSTED;
    case 'TP_ERR_UNAVAILABLE':
      return status.UNAVAILABLE;
    default:
      return status.INTERNAL;
  }
}
