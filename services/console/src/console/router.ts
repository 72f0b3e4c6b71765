// The console's pages live under /console/.
import { createRouter } from '../shared/router.js';

export const { Link, navigate, usePath } = createRouter('/console');
