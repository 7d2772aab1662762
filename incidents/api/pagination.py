from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_lazily(self, queryset, request, view=None):
        """`paginate_queryset`, except that the page is returned as the queryset's slice, not
        evaluated: the incident list reads its rows through it in one query
        (incidents/api/list_rows.py). The response (count, next, previous) is the same."""
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage as exc:
            message = self.invalid_page_message.format(page_number=page_number, message=str(exc))
            raise NotFound(message) from None
        self.display_page_controls = paginator.num_pages > 1 and self.template is not None
        return self.page.object_list
