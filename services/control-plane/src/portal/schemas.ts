// Input schemas of the portal API (/portal/api/v1) and of its operator settings: validated once at the
// edge, turned into TP_ERR_VALIDATION with field paths like every admin input.
import { Type, type Static } from '@sinclair/typebox';

const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 });
// Long enough to resist guessing behind the lockout; the upper bound keeps scrypt's input sane.
const Password = Type.String({ minLength: 10, maxLength: 256 });

export const SignUp = Type.Object(
  {
    email: Email,
    password: Password,
    display_name: Type.String({ minLength: 1, maxLength: 128, pattern: '\\S' }),
  },
  { additionalProperties: false },
);
export type SignUp = Static<typeof SignUp>;

export const SignIn = Type.Object(
  { email: Email, password: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);
export type SignIn = Static<typeof SignIn>;

export const PortalKeyCreate = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    expires_at: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type PortalKeyCreate = Static<typeof PortalKeyCreate>;

/** Rotation: a new key now; the old one keeps working for `grace_seconds` (0: revoked at once). */
export const PortalKeyRotate = Type.Object(
  { grace_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, default: 3600 })) },
  { additionalProperties: false },
);
export type PortalKeyRotate = Static<typeof PortalKeyRotate>;

export const PortalSubscriptionRequest = Type.Object(
  {
    service_id: Type.String({ format: 'uuid' }),
    plan_id: Type.Optional(Type.Union([Type.String({ format: 'uuid' }), Type.Null()])),
    note: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export type PortalSubscriptionRequest = Static<typeof PortalSubscriptionRequest>;

const HeaderName = Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,128}$' });

/** "Try it": one request sent through the gateway to a catalog service's route. */
export const TryRequest = Type.Object(
  {
    service_id: Type.String({ format: 'uuid' }),
    method: Type.Union(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => Type.Literal(m))),
    /** Path and optional query string, as sent to the gateway (`/orders/7?expand=1`). */
    path: Type.String({ pattern: '^/[^\\s#]*$', maxLength: 2048 }),
    headers: Type.Optional(Type.Record(HeaderName, Type.String({ maxLength: 8192 }), { maxProperties: 32 })),
    body: Type.Optional(Type.String({ maxLength: 65536 })),
  },
  { additionalProperties: false },
);
export type TryRequest = Static<typeof TryRequest>;

export const PortalSettingsUpdate = Type.Object(
  {
    signup: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
    gateway_url: Type.Optional(Type.Union([Type.String({ format: 'uri', pattern: '^https?://[^\\s?#]+$', maxLength: 2048 }), Type.Null()])),
  },
  { additionalProperties: false },
);
export type PortalSettingsUpdate = Static<typeof PortalSettingsUpdate>;
