// Starts the NHS.UK design system's JavaScript (header menu, search toggles). Every page works without it.
import { initAll } from '/assets/nhsuk-frontend.min.js';
initAll();
