// The portal's pages live under /portal/; the tenant (`?tenant=`) stays in the URL across pages, and the new
// page's <h1> takes focus after a navigation.
import { createRouter } from '../shared/router.js';

export const { Link, navigate, usePath } = createRouter('/portal', { keepQuery: true, focus: 'main h1' });
