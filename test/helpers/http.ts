export { HttpClient, type JsonResponse } from '../../bench/http.js';
